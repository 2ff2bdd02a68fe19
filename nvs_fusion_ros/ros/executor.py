"""Spinning nodes until Ctrl-C or shutdown, for the console scripts, bringup and the demo."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

log = logging.getLogger(__name__)


def spin_nodes(nodes: Sequence[Node], executor: Executor) -> None:
    """Spin ``nodes`` on ``executor`` until shutdown or Ctrl-C, then destroy them; never raises on Ctrl-C."""
    try:
        for node in nodes:
            executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        log.info("shutting down")
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()


def node_main(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    """The body of a console script: init with the ROS arguments, build one node, spin, shut down cleanly."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rclpy.init(args=args)
    executor = MultiThreadedExecutor()  # before the node, so a Ctrl-C cannot land in its constructor (see bringup)
    try:
        node = make_node()
        spin_nodes([node], executor)
        return 0
    except (ValueError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before spinning started; spin_nodes handles it afterwards
        return 0
    finally:
        executor.shutdown()
        rclpy.try_shutdown()
