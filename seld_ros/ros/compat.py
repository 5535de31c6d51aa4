"""rclpy differences between Humble and Jazzy that the node needs, in one place."""
from __future__ import annotations


def qos_event_kwargs(callback, lost_callback=None) -> dict:
    """event_callbacks= for incompatible-QoS and message-lost callbacks (rclpy.event_handler on Jazzy,
    rclpy.qos_event on Humble; both have these two events)."""
    try:
        from rclpy.event_handler import SubscriptionEventCallbacks
    except ImportError:  # pragma: no cover - Humble
        try:
            from rclpy.qos_event import SubscriptionEventCallbacks
        except ImportError:
            return {}
    return {"event_callbacks": SubscriptionEventCallbacks(incompatible_qos=callback, message_lost=lost_callback)}


def with_message_info(callback):
    """A subscription callback that also gets the MessageInfo dict (publication sequence number) where rclpy hands
    it over (Jazzy); on Humble the callback gets None for it."""
    try:
        from rclpy.subscription import Subscription

        Subscription.CallbackType.WithMessageInfo  # noqa: B018
    except (ImportError, AttributeError):  # pragma: no cover - Humble
        return lambda msg: callback(msg, None)
    return lambda msg, info: callback(msg, info)


__all__ = ["qos_event_kwargs", "with_message_info"]
