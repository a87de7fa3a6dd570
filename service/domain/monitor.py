"""The monitor moved to the package ``service.domain.monitoring``.

temporary: removed at integration (re-exports for the callers not yet moved)."""

from service.domain.monitoring import (  # noqa: F401
    AUTO_CLOSE_KINDS,
    BATTERY_LOW_PCT,
    BATTERY_OK_PCT,
    DEFAULT_EXIT_MARGIN_M,
    DEFAULT_POSSIBLES_TO_BREACH,
    HEALTH_CLOSE_AFTER_S,
    HEALTH_KINDS,
    LATE_AFTER_MIN_S,
    LIVE_WINDOW_S,
    MAX_SPEED_MPS,
    MOVING_ZONE_ID,
    NOTICE_KINDS_LIVE,
    POOR_ACCURACY_M,
    PURSUIT_INTERVAL_S,
    RETRO_MERGE_S,
    AgencyNotice,
    Changes,
    DeviceCommand,
    HealthEpisode,
    MembershipChange,
    Monitor,
    OrderState,
    RoutedEvent,
    StoredState,
    effective_ts,
    fresh_for_s,
    is_poor,
    zone_anchor,
)
