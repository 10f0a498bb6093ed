"""Protobuf messages built with google.protobuf itself (dynamic descriptors), so fixture bytes are
protobuf's own encoding, not our encoder's."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def _field(msg: Any, name: str, number: int, ftype: int, label: int, type_name: str = "") -> None:
    f = msg.field.add()
    f.name, f.number, f.type, f.label = name, number, ftype, label
    if type_name:
        f.type_name = type_name


def _build() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    # Paddle framework.proto (proto2): VarType.TensorDesc {required Type data_type = 1; repeated int64 dims = 2;}
    fd = descriptor_pb2.FileDescriptorProto(
        name="zhplm_test_paddle.proto", package="paddle.framework.proto", syntax="proto2"
    )
    vt = fd.message_type.add(name="VarType")
    enum = vt.enum_type.add(name="Type")
    for name, value in [
        ("BOOL", 0),
        ("INT16", 1),
        ("INT32", 2),
        ("INT64", 3),
        ("FP16", 4),
        ("FP32", 5),
        ("FP64", 6),
        ("UINT8", 20),
        ("INT8", 21),
        ("BF16", 22),
        ("DENSE_TENSOR", 7),
        ("RAW", 17),
        ("SIZE_T", 19),
        ("COMPLEX64", 23),
        ("COMPLEX128", 24),
    ]:
        enum.value.add(name=name, number=value)
    td = vt.nested_type.add(name="TensorDesc")
    _field(td, "data_type", 1, F.TYPE_ENUM, F.LABEL_REQUIRED, ".paddle.framework.proto.VarType.Type")
    _field(td, "dims", 2, F.TYPE_INT64, F.LABEL_REPEATED)
    pool.Add(fd)
    # MindSpore checkpoint.proto (proto2)
    md = descriptor_pb2.FileDescriptorProto(
        name="zhplm_test_ms.proto", package="mindspore.irpb", syntax="proto2"
    )
    tp = md.message_type.add(name="TensorProto")
    _field(tp, "dims", 1, F.TYPE_INT64, F.LABEL_REPEATED)
    _field(tp, "tensor_type", 2, F.TYPE_STRING, F.LABEL_REQUIRED)
    _field(tp, "tensor_content", 3, F.TYPE_BYTES, F.LABEL_REQUIRED)
    mp = md.message_type.add(name="MapTensorProto")
    _field(mp, "tensor", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".mindspore.irpb.TensorProto")
    ck = md.message_type.add(name="Checkpoint")
    val = ck.nested_type.add(name="Value")
    _field(val, "tag", 1, F.TYPE_STRING, F.LABEL_REQUIRED)
    _field(val, "tensor", 2, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".mindspore.irpb.TensorProto")
    _field(val, "maptensor", 3, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".mindspore.irpb.MapTensorProto")
    val.oneof_decl.add(name="value")
    val.field[1].oneof_index = 0
    val.field[2].oneof_index = 0
    _field(ck, "value", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".mindspore.irpb.Checkpoint.Value")
    pool.Add(md)
    # MindSpore ccsrc/utils/node_strategy.proto (proto2): the strategy file of a model-parallel release
    sd = descriptor_pb2.FileDescriptorProto(
        name="zhplm_test_ms_strategy.proto", package="mindspore.straspb", syntax="proto2"
    )
    for name, ftype in (
        ("DevMatrix", F.TYPE_UINT32),
        ("TensorMap", F.TYPE_INT32),
        ("ParamSplitShape", F.TYPE_INT64),
        ("IndicesOffset", F.TYPE_INT64),
    ):
        _field(sd.message_type.add(name=name), "dim", 1, ftype, F.LABEL_REPEATED)
    pl = sd.message_type.add(name="ParallelLayouts")
    for number, (fname, tname) in enumerate(
        (("dev_matrix", "DevMatrix"), ("tensor_map", "TensorMap"), ("param_split_shape", "ParamSplitShape"),
         ("indices_offset", "IndicesOffset")),
        start=1,
    ):  # fmt: skip
        _field(pl, fname, number, F.TYPE_MESSAGE, F.LABEL_REPEATED, f".mindspore.straspb.{tname}")
    for number, fname in ((5, "field"), (6, "opt_weight_shard_step"), (7, "opt_weight_shard_size")):
        _field(pl, fname, number, F.TYPE_INT32, F.LABEL_OPTIONAL)
    li = sd.message_type.add(name="ParallelLayoutItem")
    _field(li, "param_name", 1, F.TYPE_STRING, F.LABEL_REQUIRED)
    _field(li, "parallel_layouts", 2, F.TYPE_MESSAGE, F.LABEL_REQUIRED, ".mindspore.straspb.ParallelLayouts")
    sm = sd.message_type.add(name="ParallelStrategyMap")
    _field(sm, "current_stage", 1, F.TYPE_UINT32, F.LABEL_REQUIRED)
    _field(
        sm,
        "parallel_layout_item",
        3,
        F.TYPE_MESSAGE,
        F.LABEL_REPEATED,
        ".mindspore.straspb.ParallelLayoutItem",
    )
    pool.Add(sd)
    get = message_factory.GetMessageClass
    return {
        "TensorDesc": get(pool.FindMessageTypeByName("paddle.framework.proto.VarType.TensorDesc")),
        "Checkpoint": get(pool.FindMessageTypeByName("mindspore.irpb.Checkpoint")),
        "ParallelStrategyMap": get(pool.FindMessageTypeByName("mindspore.straspb.ParallelStrategyMap")),
    }


MESSAGES = _build()
TensorDesc = MESSAGES["TensorDesc"]
Checkpoint = MESSAGES["Checkpoint"]
ParallelStrategyMap = MESSAGES["ParallelStrategyMap"]
