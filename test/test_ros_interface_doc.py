"""docs/ros_interface.md says what the nodes do: its parameter tables are the code's, and the topics and services it
lists are exactly the ones the running nodes create (their names and types, read from the ROS graph)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ros_testing import Ros, as_params, wait_for

from nvs_fusion_ros.ros import interface_doc
from nvs_fusion_ros.ros.rgbd_node import RgbdCompletionNode

#: what every rclpy node has besides its own interface: these topics and its parameter services
ROS_INTERNALS = ("/rosout", "/parameter_events")


def _internal(name: str) -> bool:
    return name in ROS_INTERNALS or "parameter" in name.rsplit("/", 1)[-1] or name.endswith("/get_type_description")
#: topic-name parameters given a value, so the endpoints they create can be found
CONDITIONAL = {"view_buffer": {"roi_topic": "/doc/roi", "mask_topic": "/doc/mask"},
               "video_synthesis": {},
               "rgbd_completion": {"roi_topic": "/doc/object_roi"}}


def test_the_page_is_what_the_code_generates() -> None:
    page = interface_doc.DOC_PATH.read_text()
    assert page == interface_doc.render(), "docs/ros_interface.md is stale: python -m nvs_fusion_ros.ros.interface_doc"


def test_the_check_mode_notices_a_stale_page(tmp_path: Path) -> None:
    stale = tmp_path / "ros_interface.md"
    stale.write_text(interface_doc.render().replace("| `steps` | int | `25`", "| `steps` | int | `50`"))
    assert interface_doc.main(["--check", "--out", str(stale)]) == 1
    assert interface_doc.main(["--out", str(stale)]) == 0 and interface_doc.main(["--check", "--out", str(stale)]) == 0


def _documented(node: interface_doc.NodeDoc, kind: str) -> set[tuple[str, str]]:
    values = {**CONDITIONAL.get(node.name, {})}
    endpoints = {"subscriptions": node.subscriptions, "publications": node.publications, "services": node.services}[kind]
    return {(values.get(e.param, e.name), e.type) for e in endpoints}


@pytest.fixture(scope="module")
def running(tiny_checkpoint: Path, temporal_checkpoint: Path):
    ros = Ros(tiny_checkpoint)
    nodes = {"view_buffer": ros.buffer(**CONDITIONAL["view_buffer"]),
             "novel_view": ros.novel_view(),
             "video_synthesis": ros.video(temporal_model_file_path=str(temporal_checkpoint)),
             "rgbd_completion": ros.add(RgbdCompletionNode(context=ros.context, parameter_overrides=as_params(
                 {"model_file_path": str(tiny_checkpoint), "engine": "torch", "device": "cpu",
                  **CONDITIONAL["rgbd_completion"]})))}
    yield ros, nodes
    ros.close()


@pytest.mark.parametrize("doc", interface_doc.NODES, ids=lambda n: n.name)
def test_the_running_node_has_exactly_the_documented_topics_and_services(doc: interface_doc.NodeDoc, running) -> None:
    _, nodes = running
    node = nodes[doc.name]
    graph = {"subscriptions": node.get_subscriber_names_and_types_by_node,
             "publications": node.get_publisher_names_and_types_by_node,
             "services": node.get_service_names_and_types_by_node}
    for kind, query in graph.items():
        expected = _documented(doc, kind)

        def actual(query=query) -> set[tuple[str, str]]:
            return {(name, kind_) for name, types in query(node.get_name(), node.get_namespace()) for kind_ in types
                    if not _internal(name)}

        wait_for(lambda actual=actual, expected=expected: expected <= actual(), timeout=20.0,
                 what=f"{doc.name} {kind} in the graph")
        assert actual() == expected, f"{doc.name} {kind}: not documented {actual() - expected}"
