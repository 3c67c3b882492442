from marshmallow import fields, validate

from gateway.http.schemas import StrictSchema, UTCDateTimeField

EVENT_TYPE_LIST = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                              validate=validate.Length(min=1, max=50))


class WebhookEndpointSchema(StrictSchema):
    spec_component = "WebhookEndpoint"
    spec_load_component = "WebhookEndpointCreate"

    id = fields.String(dump_only=True)
    app_id = fields.String(dump_only=True)
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    description = fields.String(load_default="", validate=validate.Length(max=500))
    event_types = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                              validate=validate.Length(min=1, max=50))
    status = fields.String(dump_only=True)
    disabled_reason = fields.String(dump_only=True, allow_none=True)
    disabled_at = UTCDateTimeField(dump_only=True, allow_none=True)
    previous_secret_expires_at = UTCDateTimeField(dump_only=True, allow_none=True)
    failing_since = UTCDateTimeField(dump_only=True, allow_none=True)
    consecutive_failures = fields.Integer(dump_only=True)
    created_at = UTCDateTimeField(dump_only=True)
    updated_at = UTCDateTimeField(dump_only=True)


class WebhookEndpointUpdateSchema(StrictSchema):
    spec_component = "WebhookEndpointUpdate"

    url = fields.String(validate=validate.Length(min=1, max=2048))
    description = fields.String(validate=validate.Length(max=500))
    event_types = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                              validate=validate.Length(min=1, max=50))
    status = fields.String(validate=validate.OneOf(["enabled", "disabled"]))


class SecretRotationRequestSchema(StrictSchema):
    spec_component = "WebhookSecretRotationRequest"

    # how long the old secret keeps signing beside the new one (0: stop at once; at most 7 days)
    overlap_seconds = fields.Integer(validate=validate.Range(min=0, max=7 * 86400))


class RecoverRequestSchema(StrictSchema):
    spec_component = "WebhookRecoverRequest"

    since = fields.AwareDateTime(required=True, format="iso", default_timezone=None)
    until = fields.AwareDateTime(format="iso", default_timezone=None)


class WebhookDeliverySchema(StrictSchema):
    spec_component = "WebhookDelivery"

    id = fields.String(dump_only=True)
    event_id = fields.String(dump_only=True)
    endpoint_id = fields.String(dump_only=True)
    event_type = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    attempts = fields.Integer(dump_only=True)
    next_attempt_at = UTCDateTimeField(dump_only=True, allow_none=True)
    last_attempt_at = UTCDateTimeField(dump_only=True, allow_none=True)
    last_status = fields.Integer(dump_only=True, allow_none=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    succeeded_at = UTCDateTimeField(dump_only=True, allow_none=True)
    created_at = UTCDateTimeField(dump_only=True)


class WebhookAttemptSchema(StrictSchema):
    spec_component = "WebhookAttempt"

    id = fields.String(dump_only=True)
    delivery_id = fields.String(dump_only=True)
    attempted_at = UTCDateTimeField(dump_only=True)
    status = fields.Integer(dump_only=True, allow_none=True)
    error = fields.String(dump_only=True, allow_none=True)
    latency_ms = fields.Integer(dump_only=True)
    next_attempt_at = UTCDateTimeField(dump_only=True, allow_none=True)
