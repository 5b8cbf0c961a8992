from __future__ import annotations

import dataclasses

import docklord.model


def test_public_surface_is_pinned() -> None:
    assert sorted(docklord.model.__all__) == sorted(
        [
            "INSTANCE_LABEL",
            "NAME_PREFIX",
            "OVERSIZED_EVENT",
            "OWNER_LABEL",
            "PORTS_LABEL",
            "RESTART_POLICIES",
            "STAMP_SIZE",
            "ContainerDetails",
            "ContainerSpec",
            "ContainerState",
            "ContainerSummary",
            "EngineEvent",
            "EngineInfo",
            "ExecResult",
            "FileEntry",
            "ImageSummary",
            "LogChunk",
            "MountInfo",
            "MountSpec",
            "NetworkSummary",
            "PortBinding",
            "PortSpec",
            "ProcessList",
            "PruneResult",
            "PullProgress",
            "Resume",
            "Role",
            "StatsSample",
            "VolumeSummary",
            "split_stamp",
            "stamp_seconds",
        ]
    )
    for name in docklord.model.__all__:
        assert getattr(docklord.model, name) is not None


def test_values_are_frozen_dataclasses() -> None:
    classes = [getattr(docklord.model, name) for name in docklord.model.__all__]
    values = [c for c in classes if dataclasses.is_dataclass(c)]
    assert len(values) == 19
    for cls in values:
        assert cls.__dataclass_params__.frozen, cls.__name__
