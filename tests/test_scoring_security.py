"""The scorer runs other people's programs: hostile SavedModels, NaN tricks, memory and
time bombs must each cost one line, touch no file, and never help a submission."""

import json
import os
import pathlib
import time

import numpy as np
import pytest
import tensorflow as tf
from tf1_util import frozen_pb, tiny_pirm_data
from PIL import Image
from tensorflow.core.protobuf import saved_model_pb2

from pirm_enhance.errors import ModelRunError, SubmissionError, UnsafeGraph
from pirm_enhance.graph_check import CONST_BYTES_LIMIT, graph_ops
from pirm_enhance.runners import SavedModelRunner, make_runner
from pirm_enhance.scoring import format_table, score
from pirm_enhance.scoring.sandbox import DEFAULT_MEMORY_LIMIT_GIB, score_file
from pirm_enhance.scoring.validation import fidelity, track_b_pairs

SPEC = tf.TensorSpec([1, None, None, 3], tf.float32)


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _one_line(err):
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text
    return text


# ---- 1. SavedModels may not read, write or move files --------------------------------

def _saved_model(path, body, extra=None):
    """A TF2 SavedModel whose ``serving_default`` returns ``body(module, x)``."""
    module = tf.Module()
    module.scale = tf.Variable(1.0)
    if extra:
        extra(module)

    @tf.function(input_signature=[SPEC])
    def serve(x):
        return {"output": body(module, x)}

    module.serve = serve
    tf.saved_model.save(module, str(path), signatures={"serving_default": serve})
    return path


def _after(op, value):
    with tf.control_dependencies([op]):
        return tf.identity(value)


def _save(prefix, x):
    return tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["x"], shape_and_slices=[""], tensors=[x])


@tf.function
def _helper_that_saves(x, prefix):
    return _after(_save(prefix, x), x)


class _InitialisedAtLoad(tf.saved_model.experimental.TrackableResource):
    """A resource whose initialiser (run by tf.saved_model.load itself) writes a file."""

    def __init__(self, prefix):
        self.prefix = prefix
        super().__init__()

    def _create_resource(self):
        return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="pirm_test_at_load")

    def _initialize(self):
        written = _save(self.prefix, tf.constant(1.0))
        with tf.control_dependencies([written]):
            return tf.raw_ops.AssignVariableOp(resource=self.resource_handle, value=tf.constant(1.0))


def _hostile(kind, folder):
    """``(savedmodel path, op the refusal must name, effect(folder) -> bool)``: the effect
    is what the model does to ``folder`` when loaded and run without the check."""
    stolen = str(folder / "stolen")
    if kind == "SaveV2 to a constant path":
        body, op = (lambda m, x: _after(_save(stolen, x), x * m.scale)), "SaveV2"
    elif kind == "SaveV2 to a StringJoin of constants":
        body, op = (lambda m, x: _after(_save(tf.strings.join([str(folder), "stolen"], separator="/"), x),
                                        x * m.scale)), "SaveV2"
    elif kind == "SaveV2 in a library function the signature calls":
        body, op = (lambda m, x: _helper_that_saves(x, tf.constant(stolen)) * m.scale), "SaveV2"
    elif kind == "MergeV2Checkpoints moves a checkpoint":
        _save(str(folder / "victim"), tf.constant(7.0))  # eager: a real checkpoint to move
        body, op = (lambda m, x: _after(tf.raw_ops.MergeV2Checkpoints(
            checkpoint_prefixes=[str(folder / "victim")], destination_prefix=stolen, delete_old_dirs=True),
            x * m.scale)), "MergeV2Checkpoints"
    elif kind == "RestoreV2 reads another checkpoint":
        _save(str(folder / "secret"), tf.constant(42.0))
        body, op = (lambda m, x: x * 0.0 + tf.raw_ops.RestoreV2(
            prefix=str(folder / "secret"), tensor_names=["x"], shape_and_slices=[""], dtypes=[tf.float32])[0]
            ), "RestoreV2"
    else:  # "SaveV2 run by tf.saved_model.load (a resource initialiser)"
        return (_saved_model(folder / "model", lambda m, x: x * m.scale,
                             extra=lambda m: setattr(m, "evil", _InitialisedAtLoad(stolen))), "SaveV2",
                lambda: (folder / "stolen.index").exists())
    path = _saved_model(folder / "model", body)
    if op == "RestoreV2":
        return path, op, None
    if op == "MergeV2Checkpoints":
        return path, op, lambda: (folder / "stolen.index").exists() and not (folder / "victim.index").exists()
    return path, op, lambda: (folder / "stolen.index").exists()


HOSTILE = ["SaveV2 to a constant path", "SaveV2 to a StringJoin of constants",
           "SaveV2 in a library function the signature calls", "MergeV2Checkpoints moves a checkpoint",
           "RestoreV2 reads another checkpoint", "SaveV2 run by tf.saved_model.load (a resource initialiser)"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_saved_model_is_refused_and_touches_nothing(kind, tmp_path):
    path, op, effect = _hostile(kind, tmp_path)
    before = _listing(tmp_path)
    with pytest.raises(UnsafeGraph) as info:
        make_runner(path)
    assert op in _one_line(info) and "refused" in str(info.value)
    assert _listing(tmp_path) == before  # nothing written, moved or deleted
    with pytest.raises(UnsafeGraph, match=op):  # the scorer refuses before any child starts
        score_file(path, data_dir=tmp_path, timing=False, progress=False)
    assert _listing(tmp_path) == before

    # The model is really hostile: loaded and run without the check, it does its harm.
    loaded = tf.saved_model.load(str(path))
    out = loaded.signatures["serving_default"](x=tf.fill([1, 2, 2, 3], 0.5))["output"].numpy()
    if effect is None:
        assert np.allclose(out, 42.0)  # it read the other checkpoint's secret
    else:
        assert effect()


def _edit(path, change):
    pb = path / "saved_model.pb"
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(pb.read_bytes())
    change(proto.meta_graphs[0])
    pb.write_bytes(proto.SerializeToString())
    return path


def _function(meta, word):
    return next(f for f in meta.graph_def.library.function if word in f.signature.name)


def _string_const(nodes, name, value):
    node = nodes.add()
    node.name, node.op = name, "Const"
    node.attr["dtype"].type = tf.string.as_datatype_enum
    node.attr["value"].tensor.dtype = tf.string.as_datatype_enum
    node.attr["value"].tensor.string_val.append(value.encode())
    return node


def _restore_reads_const(meta, target):
    function = _function(meta, "traced_restore")
    _string_const(function.node_def, "evil", target)
    for node in function.node_def:
        if node.op == "RestoreV2":
            node.input[0] = "evil:output:0"


def _restore_node_fed_const(meta, target):
    _string_const(meta.graph_def.node, "evil", target)
    for node in meta.graph_def.node:
        if node.name == meta.saver_def.restore_op_name:
            node.input[0] = "evil"


def _save_writes_const(meta, target):
    function = _function(meta, "traced_save")
    _string_const(function.node_def, "evil", target)
    for node in function.node_def:
        if node.op == "SaveV2":
            node.input[0] = "evil:output:0"


def _signature_calls_save(meta, target):
    save = _function(meta, "traced_save").signature.name
    serve = _function(meta, "__inference_serve")
    _string_const(serve.node_def, "evil", target)
    call = serve.node_def.add()
    call.name, call.op = "evil_call", "StatefulPartitionedCall"
    call.attr["f"].func.name = save
    call.input.append("evil:output:0")


@pytest.mark.parametrize("change, message", [
    (_restore_reads_const, r"RestoreV2 in __inference__traced_restore_\d+ reads from a Const"),
    (_restore_node_fed_const, "is not given the loader's filename placeholder"),
    (_save_writes_const, r"SaveV2 in __inference__traced_save_\d+ writes to a path that does not come from"),
    (_signature_calls_save, r"calls the SavedModel's checkpoint save function"),
], ids=["restore reads a Const", "restore node fed a Const", "save writes a Const path", "signature calls save"])
def test_checkpoint_functions_edited_by_hand_are_refused(change, message, tmp_path):
    path = _saved_model(tmp_path / "model", lambda m, x: x * m.scale)
    SavedModelRunner.check(path)  # as tf.saved_model.save wrote it: accepted
    _edit(path, lambda meta: change(meta, str(tmp_path / "elsewhere")))
    with pytest.raises(UnsafeGraph, match=message) as info:
        make_runner(path)
    _one_line(info)


def test_exported_saved_model_still_loads_and_runs(tmp_path):
    import pirm_enhance as pe
    from pirm_enhance.exporters import export

    model = pe.build_model("srcnn")
    export(model, tmp_path / "sm", format="saved_model", allow_rule_violations=True)
    proto = SavedModelRunner.check(tmp_path / "sm")
    # what the check has to allow: the loader's own save function holds SaveV2 and friends
    assert {"SaveV2", "MergeV2Checkpoints", "RestoreV2"} <= graph_ops(proto.meta_graphs[0].graph_def)
    runner = make_runner(tmp_path / "sm")
    x = np.random.default_rng(0).random((1, 24, 20, 3), dtype=np.float32)
    np.testing.assert_allclose(runner(x), model(x).numpy(), atol=1e-5)


def test_tf1_style_saved_model_is_refused(tmp_path):
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session() as sess:
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="input")
        y = tf.identity(x * 2.0, name="output")
        builder = tf.compat.v1.saved_model.Builder(str(tmp_path / "tf1"))
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
            "serving_default": tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})})
        builder.save()
    with pytest.raises(SubmissionError, match="TF1-style SavedModel") as info:
        make_runner(tmp_path / "tf1")
    _one_line(info)


# ---- 2. NaN outputs count against a submission ------------------------------------------

def _write(path, image):
    Image.fromarray(np.uint8(np.round(np.clip(image, 0, 1) * 255))).save(path, quality=100)
    return path


class _FakeRunner:
    kind = "fake"

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, batch):
        return np.stack([self.fn(image) for image in np.asarray(batch, np.float32)])


def test_fidelity_counts_nonfinite_outputs_as_zero(tmp_path):
    rng = np.random.default_rng(1)
    pairs = []
    for i, level in enumerate((0.1, 0.15, 0.6, 0.7, 1.0)):  # two dark, two bright, one pure white
        phone = np.clip(level + 0.05 * rng.standard_normal((32, 32, 3)), 0, 1) if level < 1 else np.ones((32, 32, 3))
        target = np.clip(phone * 1.1, 0, 1)
        pairs.append((_write(tmp_path / f"p{i}.png", phone), _write(tmp_path / f"t{i}.png", target)))

    def clean(x):
        return x * 1.1

    def nan_when_dark(x):
        return clean(x) + (np.nan if x.mean() < 0.3 else 0.0)

    def inf_when_dark(x):
        out = clean(x)
        if x.mean() < 0.3:
            out[0, 0, 0] = np.inf  # clipping would hide it from PSNR; the rule does not
        return out

    good = fidelity(_FakeRunner(clean), pairs, progress=False)
    assert good["nonfinite_images"] == 0 and good["nonfinite_note"] == "none"
    assert good["infinite_psnr"] == 1  # the white pair: an exact match, still left out of the mean
    per_image = [fidelity(_FakeRunner(clean), [pair], progress=False) for pair in pairs[:4]]
    for trick in (nan_when_dark, inf_when_dark):
        bad = fidelity(_FakeRunner(trick), pairs, progress=False)
        assert bad["nonfinite_images"] == 2 and "2 of 5 output image(s) held NaN or inf" in bad["nonfinite_note"]
        assert bad["infinite_psnr"] == 1
        # the mean over the 4 finite-PSNR images, the two dark ones at 0 dB
        assert bad["psnr"] == pytest.approx(np.mean([0, 0, per_image[2]["psnr"], per_image[3]["psnr"]]))
        assert bad["psnr"] < good["psnr"] and bad["ms_ssim"] < good["ms_ssim"]
        assert np.isfinite(bad["ms_ssim"])
    capped = fidelity(_FakeRunner(nan_when_dark), pairs, progress=False, infinite="cap")
    assert capped["psnr"] == pytest.approx(np.mean([0, 0, per_image[2]["psnr"], per_image[3]["psnr"], 100.0]))


def test_nan_on_dark_patches_scores_lower_on_real_data(tmp_path, data_dir):
    from pirm_enhance.data.io import read_float

    means = sorted(float(read_float(phone).mean()) for phone, _ in track_b_pairs(data_dir))
    k = len(means) // 5  # the darkest fifth of the patches
    threshold = (means[k - 1] + means[k]) / 2

    def brighter(x):
        return x * 1.1 + 0.01

    clean = frozen_pb(tmp_path / "clean.pb", brighter)
    # allowed ops only: sqrt of a negative per-image mean is NaN, and 0 * NaN is NaN
    tricky = frozen_pb(tmp_path / "nan_when_dark.pb", lambda x: brighter(x) + 0.0 * tf.sqrt(
        tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True) - threshold))
    result = score([str(clean), str(tricky)], data_dir=data_dir, timing=False, progress=False)
    good, bad = result["rows"]
    assert good["nonfinite_images"] == 0 and bad["nonfinite_images"] == k
    assert bad["psnr"] < good["psnr"] - 1.0 and bad["ms_ssim"] < good["ms_ssim"] - 0.05
    table = format_table(result)
    assert f"{k} of {good['count']} output image(s) held NaN or inf" in table
    assert str(tricky) in table.splitlines()[-1]


# ---- 3. Memory and time limits: one line, never the scorer -------------------------------

@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return tiny_pirm_data(tmp_path_factory.mktemp("tiny_pirm"))


def _const_graph(path, shape):
    """A graph whose Const declares ``shape`` floats from a single stored value."""
    graph_def = tf.compat.v1.GraphDef()
    x = graph_def.node.add()
    x.name, x.op = "input", "Placeholder"
    x.attr["dtype"].type = tf.float32.as_datatype_enum
    big = graph_def.node.add()
    big.name, big.op = "big", "Const"
    big.attr["dtype"].type = tf.float32.as_datatype_enum
    tensor = big.attr["value"].tensor
    tensor.dtype = tf.float32.as_datatype_enum
    for size in shape:
        tensor.tensor_shape.dim.add().size = size
    tensor.float_val.append(0.0)
    out = graph_def.node.add()
    out.name, out.op = "output", "Identity"
    out.input.append("input")
    out.attr["T"].type = tf.float32.as_datatype_enum
    path.write_bytes(graph_def.SerializeToString())
    return path


@pytest.mark.parametrize("shape, gb", [([250_000_000], "1.0"), ([100_000, 100_000], "40.0")])
def test_declared_constants_over_the_limit_are_refused(shape, gb, tmp_path, tiny_data):
    path = _const_graph(tmp_path / "bomb.pb", shape)
    assert path.stat().st_size < 200
    with pytest.raises(UnsafeGraph, match=f"constants declare {gb} GB") as info:
        make_runner(path)
    _one_line(info)
    start = time.perf_counter()
    with pytest.raises(UnsafeGraph, match=f"constants declare {gb} GB"):
        score([str(path)], data_dir=tiny_data, timing=False, progress=False)
    assert time.perf_counter() - start < 5  # refused before a child process starts
    small = _const_graph(tmp_path / "small.pb", [CONST_BYTES_LIMIT // 4 // 1000, 1000])
    make_runner(small)  # right at the limit: accepted


def _sandbox_pids():
    """This process's sandbox children (not another test worker's)."""
    out = set()
    for proc in pathlib.Path("/proc").iterdir():
        try:
            if not (proc.name.isdigit() and b"pirm_sandbox_" in (proc / "cmdline").read_bytes()):
                continue
            status = (proc / "status").read_text().splitlines()
        except OSError:
            continue
        ppid = next((int(line.split()[1]) for line in status if line.startswith("PPid:")), None)
        if ppid == os.getpid():
            out.add(int(proc.name))
    return out


def test_memory_bomb_costs_one_line(tmp_path, tiny_data):
    # 40 GB of ones whose shape depends on the input: nothing to see statically
    bomb = frozen_pb(tmp_path / "bomb.pb", lambda x: x + 0.0 * tf.reduce_mean(
        tf.fill(tf.stack([tf.shape(x)[1] * 1000, tf.shape(x)[2] * 1000]), 1.0)))
    start = time.perf_counter()
    with pytest.raises(SubmissionError, match=f"over the {DEFAULT_MEMORY_LIMIT_GIB:g} GiB memory limit") as info:
        score([str(bomb)], data_dir=tiny_data, timing=False, progress=False)
    _one_line(info)
    assert time.perf_counter() - start < 120


def test_memory_limit_reaches_the_child(tmp_path, tiny_data):
    path = frozen_pb(tmp_path / "dim.pb", lambda x: x * 0.9)
    with pytest.raises(SubmissionError, match=r"out of memory under the 0.3 GiB memory limit") as info:
        score_file(path, data_dir=tiny_data, timing=False, progress=False, memory_limit_gib=0.3)
    _one_line(info)
    out = score_file(path, data_dir=tiny_data, timing=False, progress=False, memory_limit_gib=1.0)
    assert out["sandbox"]["memory_limit_bytes"] == 2**30 and 0 < out["sandbox"]["data_peak_bytes"] < 2**30
    assert out["fidelity"]["count"] == 3 and out["time"] is None


def test_out_of_memory_at_start_is_a_memory_error(tmp_path):
    """A child that fails while importing TensorFlow under the limit (CI saw a SystemError,
    "error return without exception set", from a C extension whose malloc failed) is
    reported as over the memory limit, not as a crash of the model."""
    from pirm_enhance.scoring import sandbox

    log = tmp_path / "child.log"
    log.write_text(f"Traceback (most recent call last):\n{sandbox.OOM_AT_START}\n")
    err = sandbox._died(tmp_path / "x.pb", 1, log, 2**29)
    assert isinstance(err, SubmissionError) and "ran out of memory under the 0.5 GiB memory limit" in str(err)
    assert sandbox._error_payload(SystemError("error return without exception set"), "x.pb")["oom"]
    assert not sandbox._error_payload(SystemError("something else"), "x.pb")["oom"]
    log.write_text("ImportError: libtensorflow_framework.so.2: failed to map segment from shared object\n")
    assert isinstance(sandbox._died(tmp_path / "x.pb", 1, log, 2**29), SubmissionError)


def test_time_limit_kills_the_child(tmp_path, tiny_data):
    slow = frozen_pb(tmp_path / "slow.pb", lambda x: x * 0.9)
    before = _sandbox_pids()
    start = time.perf_counter()
    with pytest.raises(SubmissionError, match=r"timed out after 2 s") as info:
        score_file(slow, data_dir=tiny_data, timing=False, progress=False, time_limit_s=2)
    _one_line(info)
    assert time.perf_counter() - start < 15
    assert _sandbox_pids() - before == set()


def test_check_numerics_in_the_sandbox_is_a_run_error(tmp_path, tiny_data):
    boom = frozen_pb(tmp_path / "boom.pb", lambda x: tf.debugging.check_numerics(tf.math.log(x - 2.0), "boom"))
    with pytest.raises(ModelRunError, match=r"failed while running on a 100x100 image.*boom") as info:
        score_file(boom, data_dir=tiny_data, timing=False, progress=False)
    _one_line(info)


def test_sandboxed_scoring_matches_in_process(tmp_path, tiny_data):
    path = frozen_pb(tmp_path / "dim.pb", lambda x: x * 0.9 + 0.02)
    boxed = score([str(path)], data_dir=tiny_data, progress=False)
    here = score([str(path)], data_dir=tiny_data, progress=False, sandbox=False)
    row, ref = boxed["rows"][0], here["rows"][0]
    for key in ("psnr", "ms_ssim", "count", "nonfinite_images", "infinite_psnr"):
        assert row[key] == ref[key] or (np.isnan(row[key]) and np.isnan(ref[key]))
    assert row["kind"] == "pb" and row["count"] == 3
    sandbox = row["sandbox"]
    assert sandbox["memory_limit_bytes"] == int(DEFAULT_MEMORY_LIMIT_GIB * 2**30)
    assert 0 < sandbox["rss_peak_bytes"] < sandbox["vm_peak_bytes"] < sandbox["memory_limit_bytes"]
    assert 0 < sandbox["data_peak_bytes"] < sandbox["memory_limit_bytes"]
    # the runtime protocol ran in the child, interleaved with the child's own baseline
    assert row["time_ms"] > 0 and row["baseline_time_ms"] > 0 and isinstance(row["ram_bytes"], int)
    assert row["speed_vs_srcnn"] == pytest.approx(row["baseline_time_ms"] / row["time_ms"])
    assert boxed["baseline"]["processes"] == 1 and boxed["baseline"]["time_ms"] == row["baseline_time_ms"]
    assert set(row["scores"]) == {"A", "B", "C"} and "sandbox" not in ref
    json.dumps(boxed)  # everything came back through JSON
