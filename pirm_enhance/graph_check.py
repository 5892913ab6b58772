"""Refuse graphs that could do more than compute an image.

Scoring a ``.pb`` or SavedModel is running someone else's program. The op
allow-list below holds what image networks need; anything else (ReadFile,
WriteFile, PyFunc, network or queue ops, ...) is refused with its name.
"""

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

# What a SavedModel needs on top: its own variables, restored from its own folder.
SAVED_MODEL_OPS = IMAGE_OPS | frozenset("""
VarHandleOp ReadVariableOp AssignVariableOp VarIsInitializedOp DestroyResourceOp DisableCopyOnRead
RestoreV2 SaveV2 MergeV2Checkpoints ShardedFilename StringJoin StaticRegexFullMatch
""".split())


from pirm_enhance.errors import UnsafeGraph  # noqa: E402  (re-exported)


def graph_ops(graph_def):
    """Every op type in a GraphDef, function library included."""
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def check_ops(graph_def, source, allowed=IMAGE_OPS):
    """Raise :class:`UnsafeGraph` naming the ops of ``graph_def`` that are not allowed."""
    bad = sorted(graph_ops(graph_def) - allowed)
    if bad:
        raise UnsafeGraph(
            f"{source}: refused, the graph contains op(s) an image network does not need "
            f"({', '.join(bad)}); scoring runs the graph, and these could read or write files, "
            "use the network or run Python")
