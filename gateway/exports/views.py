"""Data export for partners: datasets and their schemas, stats for dashboards, export jobs with a
signed, resumable download, and incremental sync of a dataset's new rows."""

from __future__ import annotations

from flask import Blueprint, g, request, send_file
from sqlalchemy import select

from gateway.db import session
from gateway.exports import services
from gateway.exports.datasets import DATASETS
from gateway.exports.models import EXPORT_STATUSES, ExportJob
from gateway.exports.schemas import ExportCreateSchema
from gateway.http.auth import require_scope
from gateway.http.filters import one_of, text_arg
from gateway.http.idempotency import idempotent
from gateway.http.pagination import page_params, paginate
from gateway.http.requests import json_body
from gateway.http.schemas import EmptySchema

bp = Blueprint("exports", __name__)

create_schema = ExportCreateSchema()
empty_schema = EmptySchema()


@bp.get("/v1/datasets")
@require_scope("data.export")
def list_datasets():
    """List the datasets a merchant's data can be exported from, with their schemas."""
    return {"data": [dataset.schema() for dataset in DATASETS.values()]}


@bp.get("/v1/datasets/<dataset>")
@require_scope("data.export")
def get_dataset(dataset):
    """Get one dataset's schema: columns, types, freshness and retention."""
    return services.get_dataset(dataset).schema()


@bp.get("/v1/merchants/<merchant_id>/stats")
@require_scope("data.export", merchant_param="merchant_id")
def get_stats(merchant_id):
    """Get one metric of the merchant by day or hour over a date range, for a chart."""
    filters = {name: value for name in sorted(services.STAT_FILTERS) if (value := text_arg(name, 64)) is not None}
    return services.stats(session(), merchant_id, request.args.get("metric", "orders"),
                          request.args.get("granularity", "day"), request.args.get("date_from"),
                          request.args.get("date_to"), filters)


@bp.get("/v1/merchants/<merchant_id>/datasets/<dataset>/changes")
@require_scope("data.export", merchant_param="merchant_id")
def list_dataset_changes(merchant_id, dataset):
    """List a dataset's rows added or changed since the cursor, oldest first, to mirror it incrementally."""
    limit, cursor = page_params(decode=str)  # a position of its own kind per dataset: the service reads it
    return services.changes(session(), services.get_dataset(dataset), merchant_id, g.token.app_id, cursor, limit)


@bp.post("/v1/merchants/<merchant_id>/exports")
@require_scope("data.export", merchant_param="merchant_id")
@idempotent
def create_export(merchant_id):
    """Start an export job of one dataset; poll it, then download its file."""
    job = services.create_job(session(), merchant_id, g.token.app_id, create_schema.load(json_body()))
    return services.dump(job), 202, {"Location": f"/v1/merchants/{merchant_id}/exports/{job.id}"}


@bp.get("/v1/merchants/<merchant_id>/exports")
@require_scope("data.export", merchant_param="merchant_id")
def list_exports(merchant_id):
    """List the export jobs this app created for the merchant, oldest first."""
    statement = select(ExportJob).where(ExportJob.merchant_id == merchant_id, ExportJob.app_id == g.token.app_id)
    statement = one_of(statement, ExportJob.status, "status", request.args.get("status"), EXPORT_STATUSES)
    return paginate(session(), statement, ExportJob.id, services.dump)


@bp.get("/v1/merchants/<merchant_id>/exports/<export_id>")
@require_scope("data.export", merchant_param="merchant_id")
def get_export(merchant_id, export_id):
    """Get an export job's status and progress; once completed, a short-lived download link."""
    return services.dump(services.get_job(session(), merchant_id, g.token.app_id, export_id), with_link=True)


@bp.post("/v1/merchants/<merchant_id>/exports/<export_id>/cancel")
@require_scope("data.export", merchant_param="merchant_id")
def cancel_export(merchant_id, export_id):
    """Cancel an export job, or withdraw its file; no file is left behind."""
    empty_schema.load(json_body(allow_empty=True))
    return services.dump(services.cancel(session(), services.get_job(session(), merchant_id, g.token.app_id,
                                                                     export_id)))


@bp.get("/v1/merchants/<merchant_id>/exports/<export_id>/download/<token>")
@require_scope("data.export", merchant_param="merchant_id")
def download_export(merchant_id, export_id, token):
    """Download an export's file (HTTP Range supported, to resume)."""
    path, job = services.file_for_download(session(), merchant_id, g.token.app_id, export_id, token)
    response = send_file(path, mimetype=services.media_type(job), as_attachment=True,
                         download_name=services.download_name(job), conditional=True, etag=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response
