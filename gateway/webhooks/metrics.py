"""What operators watch: attempts by outcome, their latency, and endpoints switched off."""

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter("shijing_webhook_attempts_total", "Webhook delivery attempts, by outcome.", ["outcome"])
ATTEMPT_LATENCY = Histogram("shijing_webhook_attempt_seconds", "Time from connecting to the partner's answer.",
                            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30))
ENDPOINTS_DISABLED = Counter("shijing_webhook_endpoints_disabled_total",
                             "Webhook endpoints Shijing stopped sending to, by reason.", ["reason"])
