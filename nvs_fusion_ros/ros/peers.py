"""What a node can learn about its peers from the ROS graph: namesakes, and the view source's ``max_views``.

Two bringups in one domain run two ``novel_view`` nodes that both answer every request, and a
``view_buffer`` that keeps more views than ``novel_view`` composes breaks the exact-set
guarantee of the ``views`` protocol. Neither stops anything from working, so each is reported
(a log line once per finding, and a note the node puts in its diagnostics) rather than refused.
"""

from __future__ import annotations

from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters
from rclpy.client import Client
from rclpy.node import Node
from rclpy.task import Future


def namesakes(node: Node) -> int:
    """How many *other* nodes in the domain have this node's name and namespace."""
    own = (node.get_name(), node.get_namespace())
    return sum(1 for entry in node.get_node_names_and_namespaces() if entry == own) - 1


def fully_qualified(name: str, namespace: str) -> str:
    return f"{namespace.rstrip('/')}/{name}"


class PeerWatch:
    """Polled from a node's timer: namesakes of the node and of the view sources, and the sources' ``max_views``.

    ``views_topic`` is the resolved name (after remapping) of the node's ``views`` subscription, or
    None for a node without one. ``warnings`` holds the current findings, one line each.
    """

    def __init__(self, node: Node, views_topic: str | None = None, max_views: int | None = None):
        self._node = node
        self._views_topic = views_topic
        self._max_views = max_views
        self._clients: dict[str, Client] = {}  # one per view source, kept: destroying entities while spinning races
        self._pending: dict[tuple[str, bytes], Future] = {}
        # (source, its views publisher's gid) -> max_views: a restarted source has a new gid and is asked again
        self._source_views: dict[tuple[str, bytes], int] = {}
        self._logged: set[str] = set()
        self.warnings: list[str] = []

    def poll(self) -> list[str]:
        warnings = []
        others = namesakes(self._node)
        if others > 0:
            warnings.append(f"{others} other node(s) named {self._node.get_fully_qualified_name()} run in this domain: "
                            "every request is answered more than once")
        if self._views_topic is not None:
            publishers = [(fully_qualified(info.node_name, info.node_namespace), bytes(info.endpoint_gid))
                          for info in self._node.get_publishers_info_by_topic(self._views_topic)]
            sources = [name for name, _ in publishers]
            warnings += [f"{sources.count(name)} nodes named {name} publish {self._views_topic}"
                         for name in sorted(set(sources)) if sources.count(name) > 1]
            self._source_views = {key: n for key, n in self._source_views.items() if key in publishers}
            self._pending = {key: f for key, f in self._pending.items() if key in publishers}
            self._ask_view_sources(set(publishers))
            for (source, _), count in sorted(self._source_views.items()):
                if count != self._max_views:
                    warnings.append(f"{source} keeps max_views={count} but {self._node.get_name()} composes up to "
                                    f"max_views={self._max_views}: set both to the same value")
        for line in warnings:
            if line not in self._logged:
                self._node.get_logger().warning(line)
                self._logged.add(line)
        self.warnings = warnings
        return warnings

    def _ask_view_sources(self, publishers: set[tuple[str, bytes]]) -> None:
        for key in sorted(publishers):
            source = key[0]
            if source == self._node.get_fully_qualified_name() or key in self._source_views:
                continue
            pending = self._pending.get(key)
            if pending is not None:
                if pending.done():
                    del self._pending[key]
                    self._record(key, pending.result())
                continue
            client = self._clients.get(source)
            if client is None:
                client = self._clients[source] = self._node.create_client(GetParameters, f"{source}/get_parameters")
            if client.service_is_ready():
                self._pending[key] = client.call_async(GetParameters.Request(names=["max_views"]))

    def _record(self, key: tuple[str, bytes], response: GetParameters.Response | None) -> None:
        values = [] if response is None else response.values
        if values and values[0].type == ParameterType.PARAMETER_INTEGER:
            self._source_views[key] = values[0].integer_value
        else:
            self._source_views[key] = self._max_views  # not a view_buffer (e.g. a recorder): nothing to compare
