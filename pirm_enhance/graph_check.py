"""Refuse graphs that could do more than compute an image.

Scoring a ``.pb`` or SavedModel is running someone else's program. The op
allow-list below holds what image networks need; anything else (ReadFile,
WriteFile, PyFunc, network or queue ops, ...) is refused with its name. Const
nodes may not declare more than :data:`CONST_BYTES_LIMIT` bytes in all (a
splat Const of a 40 GB shape fits in a few bytes of file).

SavedModels (:func:`check_saved_model`) need the checkpoint ops on top:
``tf.saved_model.save`` always writes a "save" function (SaveV2,
MergeV2Checkpoints, ShardedFilename, ...) and a "restore" function (RestoreV2)
that ``saver_def`` names. These ops may appear there and nowhere else: the
restore function must read from the loader's own ``saver_filename``
placeholder (which loaders feed with ``<folder>/variables/variables``), the
save function must take its paths from it too, and neither function may be
called from anything but the ``saver_def`` nodes: not from a signature, a
function of the object graph (run at load time or by the scorer) or another
function. ``tf.saved_model.load`` restores variables with its own eager ops
and never runs either function.
"""

from pirm_enhance.errors import SubmissionError, UnsafeGraph  # noqa: F401  (UnsafeGraph re-exported)

# Ops an image-to-image network needs (inference graphs, TF 1.x and 2.x spellings).
IMAGE_OPS = frozenset("""
Placeholder PlaceholderWithDefault Const Identity IdentityN NoOp StopGradient Snapshot
Conv2D Conv3D DepthwiseConv2dNative Conv2DBackpropInput FusedConv2D _FusedConv2D
BiasAdd BiasAddV1 MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3 Einsum
Add AddV2 AddN Sub Mul RealDiv Div DivNoNan FloorDiv FloorMod Mod Maximum Minimum
Neg Abs Sign Square SquaredDifference Sqrt Rsqrt Pow Exp Log Log1p Reciprocal Inv
Floor Ceil Round Rint Erf Cos Sin
Relu Relu6 LeakyRelu Elu Selu Softplus Softsign Tanh Sigmoid Softmax LogSoftmax Gelu
ClipByValue Mean Sum Max Min Prod ArgMax ArgMin All Any
Reshape Shape ShapeN Size Rank StridedSlice Slice Pack Unpack ConcatV2 Concat Split SplitV
Pad PadV2 MirrorPad Transpose Tile ExpandDims Squeeze BroadcastTo BroadcastArgs
Fill ZerosLike OnesLike Range Cast Bitcast GatherV2 Gather GatherNd Select SelectV2 Where
Equal NotEqual Greater GreaterEqual Less LessEqual LogicalAnd LogicalOr LogicalNot
ResizeBilinear ResizeNearestNeighbor ResizeBicubic ResizeArea ScaleAndTranslate
MaxPool MaxPoolV2 AvgPool FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3
SpaceToBatchND BatchToSpaceND DepthToSpace SpaceToDepth
AdjustContrastv2 AdjustContrast AdjustSaturation AdjustHue RGBToHSV HSVToRGB
Cumsum ReverseV2 MatrixBandPart CheckNumerics EnsureShape
PartitionedCall StatefulPartitionedCall
""".split())

# A SavedModel's variables (in memory: no file access).
VARIABLE_OPS = frozenset("""
VarHandleOp ReadVariableOp AssignVariableOp VarIsInitializedOp DestroyResourceOp DisableCopyOnRead
""".split())
# Checkpoint ops: they write, move or read files given by a string tensor.
SAVE_OPS = frozenset({"SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints"})
RESTORE_OPS = frozenset({"RestoreV2", "Restore", "RestoreSlice"})
# Allowed only inside the loader's own save / restore functions (see check_saved_model).
SAVER_ONLY_OPS = SAVE_OPS | RESTORE_OPS | frozenset({"ShardedFilename", "ShardedFilespec", "StringJoin",
                                                      "StaticRegexFullMatch"})
# Everything a SavedModel may hold somewhere (where exactly is check_saved_model's business).
SAVED_MODEL_OPS = IMAGE_OPS | VARIABLE_OPS | SAVER_ONLY_OPS

CONST_BYTES_LIMIT = 200 * 10**6  # all Const nodes together; real networks here hold < 20 MB

# bytes per element of the DataType enum (tensorflow/core/framework/types.proto); strings: see _const_bytes
_DTYPE_BYTES = {1: 4, 2: 8, 3: 4, 4: 1, 5: 2, 6: 1, 8: 8, 9: 8, 10: 1, 11: 1, 12: 1, 13: 4, 14: 2, 15: 2,
                16: 4, 17: 2, 18: 16, 19: 2, 22: 4, 23: 8}
_DT_STRING = 7


def graph_ops(graph_def):
    """Every op type in a GraphDef, function library included."""
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def _all_nodes(graph_def):
    """``(function name or None for the top level, NodeDef)`` for every node."""
    for node in graph_def.node:
        yield None, node
    for function in graph_def.library.function:
        for node in function.node_def:
            yield function.signature.name, node


def _const_bytes(node):
    """Bytes a Const node's ``value`` declares (its shape times its element size)."""
    tensor = node.attr["value"].tensor
    count = 1
    if tensor.tensor_shape.unknown_rank:
        count = 0
    for dim in tensor.tensor_shape.dim:
        count *= max(int(dim.size), 0)
    if tensor.dtype == _DT_STRING:  # a tstring header per element, plus the bytes stored
        return 32 * count + sum(len(s) for s in tensor.string_val)
    return count * _DTYPE_BYTES.get(tensor.dtype, 8)


def check_const_sizes(graph_def, source, limit=CONST_BYTES_LIMIT):
    """Raise :class:`UnsafeGraph` if the Const nodes (function library included) declare
    more than ``limit`` bytes: TensorFlow materialises each one at import or first run."""
    total = sum(_const_bytes(node) for _, node in _all_nodes(graph_def) if node.op == "Const")
    if total > limit:
        raise UnsafeGraph(f"{source}: refused, its constants declare {total / 1e9:.1f} GB "
                          f"(the limit is {limit / 1e6:.0f} MB in all); a network's weights are far smaller")


def check_ops(graph_def, source, allowed=IMAGE_OPS):
    """Raise :class:`UnsafeGraph` naming the ops of ``graph_def`` that are not allowed,
    or if its constants declare more than :data:`CONST_BYTES_LIMIT` bytes."""
    bad = sorted(graph_ops(graph_def) - allowed)
    if bad:
        raise UnsafeGraph(
            f"{source}: refused, the graph contains op(s) an image network does not need "
            f"({', '.join(bad)}); scoring runs the graph, and these could read or write files, "
            "use the network or run Python")
    check_const_sizes(graph_def, source)


def _node_of(name):
    """``"^a"``, ``"a:0"``, ``"a:output:0"`` -> ``"a"``."""
    return name.lstrip("^").split(":")[0]


def _callees(node, functions):
    """Names of the library functions a node calls (by op name or by a function attribute)."""
    out = {node.op} & functions.keys()
    for value in node.attr.values():
        if value.func.name:
            out.add(value.func.name)
        out.update(f.name for f in value.list.func)
    return out


def _where(owner):
    return f"function {owner}" if owner else "the top-level graph"


def _object_graph_functions(meta):
    """Names of the concrete functions the object graph refers to (what the TF2 loader and
    the scorer can call: signatures, methods, resource initialisers, saveable functions)."""
    graph = meta.object_graph_def
    names = set(graph.concrete_functions.keys())
    for obj in graph.nodes:
        kind = obj.WhichOneof("kind")
        if kind == "function":
            names.update(obj.function.concrete_functions)
        elif kind == "bare_concrete_function":
            names.add(obj.bare_concrete_function.concrete_function_name)
    return names


def _ancestors(function, start):
    """Node names (and argument names) that feed ``start`` inside a FunctionDef, ``start`` included."""
    nodes = {n.name: n for n in function.node_def}
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in nodes:
            todo.extend(_node_of(i) for i in nodes[name].input)
    return seen


def _loader_function(meta, nodes, functions, tensor_name, what, source):
    """The function the ``saver_def`` node ``tensor_name`` calls, and the argument names the
    loader's filename placeholder feeds; refuses anything else."""
    name = _node_of(tensor_name)
    node = nodes.get(name)
    if node is None or node.op not in ("PartitionedCall", "StatefulPartitionedCall"):
        raise UnsafeGraph(f"{source}: refused, saver_def's {what} node {name!r} is "
                          f"{'missing' if node is None else 'a ' + node.op} (expected a call of the "
                          f"SavedModel's own {what} function)")
    callee = node.attr["f"].func.name
    if callee not in functions:
        raise UnsafeGraph(f"{source}: refused, saver_def's {what} node calls an unknown function {callee!r}")
    filename = _node_of(meta.saver_def.filename_tensor_name)
    args = [a.name for a in functions[callee].signature.input_arg]
    fed = {args[i] for i, inp in enumerate(node.input)
           if i < len(args) and not inp.startswith("^") and _node_of(inp) == filename}
    if not fed:
        raise UnsafeGraph(f"{source}: refused, saver_def's {what} function {callee} is not given the "
                          f"loader's filename placeholder {filename!r}")
    return callee, fed


def check_saved_model(proto, source):
    """Raise :class:`UnsafeGraph` (one line, naming the op) unless the ``SavedModel`` proto
    only computes images, its checkpoint ops confined to its own variables (module doc)."""
    if len(proto.meta_graphs) != 1 or not proto.meta_graphs[0].HasField("object_graph_def"):
        raise SubmissionError(
            f"{source}: a TF1-style SavedModel ({len(proto.meta_graphs)} meta graph(s), no object graph) is "
            "not accepted; save it with tf.saved_model.save or freeze it to a .pb (the PIRM format)")
    meta = proto.meta_graphs[0]
    graph_def = meta.graph_def
    check_ops(graph_def, source, SAVED_MODEL_OPS)
    functions = {f.signature.name: f for f in graph_def.library.function}
    nodes = {n.name: n for n in graph_def.node}

    loader = {}  # function name -> ("save" | "restore", argument names fed by the filename placeholder)
    saver_nodes = {}  # top-level node name -> function it may call
    saver = meta.saver_def
    if saver.filename_tensor_name or saver.save_tensor_name or saver.restore_op_name:
        filename = nodes.get(_node_of(saver.filename_tensor_name))
        if filename is None or filename.op != "Placeholder" or filename.attr["dtype"].type != _DT_STRING:
            raise UnsafeGraph(f"{source}: refused, saver_def's filename tensor "
                              f"{saver.filename_tensor_name!r} is not a string placeholder the loader feeds")
        for what, tensor_name in (("save", saver.save_tensor_name), ("restore", saver.restore_op_name)):
            callee, fed = _loader_function(meta, nodes, functions, tensor_name, what, source)
            if callee in loader:
                raise UnsafeGraph(f"{source}: refused, saver_def's save and restore nodes call one function")
            loader[callee] = (what, fed)
            saver_nodes[_node_of(tensor_name)] = callee

    # Nothing but the saver_def nodes may call the loader's functions ...
    for owner, node in _all_nodes(graph_def):
        for callee in _callees(node, functions) & loader.keys():
            if owner is None and saver_nodes.get(node.name) == callee:
                continue
            raise UnsafeGraph(f"{source}: refused, {_where(owner)} (node {node.name!r}) calls the SavedModel's "
                              f"checkpoint {loader[callee][0]} function {callee}; only the loader may")
    reachable = _object_graph_functions(meta) & loader.keys()
    if reachable:
        name = sorted(reachable)[0]
        raise UnsafeGraph(f"{source}: refused, the object graph exposes the checkpoint {loader[name][0]} "
                          f"function {name} as a callable function")
    for key, signature in meta.signature_def.items():
        for info in list(signature.inputs.values()) + list(signature.outputs.values()):
            if _node_of(info.name) in saver_nodes or _node_of(info.name) == _node_of(saver.filename_tensor_name):
                raise UnsafeGraph(f"{source}: refused, signature {key!r} uses the checkpoint node {info.name!r}")

    # ... and the checkpoint ops live only there, on the loader's own path.
    stray = {}
    for owner, node in _all_nodes(graph_def):
        if node.op in SAVER_ONLY_OPS and owner not in loader:
            stray.setdefault(owner, set()).add(node.op)
    if stray:
        owner = sorted(stray, key=lambda o: (not stray[o] & (SAVE_OPS | RESTORE_OPS), o or ""))[0]
        ops = sorted(stray[owner], key=lambda op: (op not in SAVE_OPS | RESTORE_OPS, op))
        raise UnsafeGraph(
            f"{source}: refused, op{'s' if len(ops) > 1 else ''} {', '.join(ops)} in {_where(owner)}: a SavedModel may use checkpoint ops only "
            "in its own save/restore functions (signatures and other functions could read, write or "
            "move files with them)")
    for owner, node in _all_nodes(graph_def):
        if node.op not in SAVER_ONLY_OPS:
            continue
        role = loader[owner][0]
        if (role == "save" and node.op in RESTORE_OPS) or (role == "restore" and node.op in SAVE_OPS):
            raise UnsafeGraph(f"{source}: refused, op {node.op} in the checkpoint {role} function {owner}")
        if node.op in RESTORE_OPS:
            _check_restore_prefix(functions[owner], node, loader[owner][1], source)
        elif node.op in SAVE_OPS:
            paths = node.input[:2] if node.op == "MergeV2Checkpoints" else node.input[:1]
            fed = loader[owner][1]
            for path in paths:
                if not fed & _ancestors(functions[owner], _node_of(path)):
                    raise UnsafeGraph(
                        f"{source}: refused, op {node.op} in {owner} writes to a path that does not come from "
                        "the loader's filename placeholder (a constant or computed path)")


def _check_restore_prefix(function, node, fed, source):
    """A restore op's prefix must be the filename argument itself (through Identity only)."""
    nodes = {n.name: n for n in function.node_def}
    name = _node_of(node.input[0]) if node.input else ""
    while name in nodes and nodes[name].op in ("Identity", "Snapshot") and nodes[name].input:
        name = _node_of(nodes[name].input[0])
    if name not in fed:
        what = f"a {nodes[name].op}" if name in nodes else f"{name!r}"
        raise UnsafeGraph(
            f"{source}: refused, op {node.op} in {function.signature.name} reads from {what}, not from the "
            "loader's filename placeholder: a SavedModel may restore only its own variables")


__all__ = ["CONST_BYTES_LIMIT", "IMAGE_OPS", "SAVED_MODEL_OPS", "UnsafeGraph", "check_const_sizes", "check_ops",
           "check_saved_model", "graph_ops"]
