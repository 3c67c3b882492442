"""Operators decide on review submissions; each decision is an event for the submitting app.

Approving applies the submission's changes to the POI or product row (now the live version) and
marks it live; rejecting keeps the reason and leaves the live values as they were. Only a
pending submission can be decided: a superseded one was replaced by a newer edit, and a decided
one stays decided (409).
"""

from __future__ import annotations

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from gateway.accounts import services as accounts
from gateway.accounts.models import User
from gateway.clock import isoformat, utcnow
from gateway.errors import Conflict, Forbidden, NotFound, Problem
from gateway.events.services import emit
from gateway.poi.models import Poi, Product, ReviewSubmission

SUBJECTS = {"poi": Poi, "product": Product}
SUBMISSION_STATUSES = ("pending", "approved", "rejected", "superseded")


def require_operator(session: Session, token) -> User:
    return accounts.require_operator(session, token, "review submissions")


def list_statement(status: str | None, subject_type: str | None, merchant_id: str | None) -> Select:
    statement = select(ReviewSubmission)
    if status is not None:
        if status not in SUBMISSION_STATUSES:
            raise Problem(f"status must be one of {', '.join(SUBMISSION_STATUSES)}.", code="INVALID_FILTER")
        statement = statement.where(ReviewSubmission.status == status)
    if subject_type is not None:
        if subject_type not in SUBJECTS:
            raise Problem("subject_type must be poi or product.", code="INVALID_FILTER")
        statement = statement.where(ReviewSubmission.subject_type == subject_type)
    if merchant_id is not None:
        if len(merchant_id) > 64 or "\x00" in merchant_id:
            raise Problem("merchant_id must be an id of at most 64 characters.", code="INVALID_FILTER")
        statement = statement.where(ReviewSubmission.merchant_id == merchant_id)
    return statement


def get_submission(session: Session, submission_id: str) -> ReviewSubmission:
    submission = session.get(ReviewSubmission, submission_id) if len(submission_id) <= 32 else None
    if submission is None:
        raise NotFound("No such review submission.", code="SUBMISSION_NOT_FOUND")
    return submission


def _decide(session: Session, submission: ReviewSubmission, reviewer: User, status: str, reason: str | None):
    if submission.status != "pending":
        raise Conflict(f"This submission is {submission.status}; only a pending one can be decided.",
                       code="SUBMISSION_NOT_PENDING")
    now = utcnow()
    # claim the decision with a conditional update: of two operators deciding at once, one wins
    claimed = session.execute(
        update(ReviewSubmission)
        .where(ReviewSubmission.id == submission.id, ReviewSubmission.status == "pending")
        .values(status=status, reason=reason, reviewer_user_id=reviewer.id, decided_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise Conflict("This submission was decided meanwhile.", code="SUBMISSION_NOT_PENDING")
    session.refresh(submission)
    subject = session.get(SUBJECTS[submission.subject_type], submission.subject_id)
    if status == "approved":
        for name, value in submission.changes.items():
            setattr(subject, name, value)
        subject.live = True
    subject.review_status = status
    subject.updated_at = now
    if submission.app_id:
        emit(session, f"{submission.subject_type}.review.{status}", app_id=submission.app_id,
             merchant_id=submission.merchant_id, data=event_data(submission, subject))
    return submission


def event_data(submission: ReviewSubmission, subject) -> dict:
    return {
        "submission_id": submission.id,
        "subject_type": submission.subject_type,
        "subject_id": submission.subject_id,
        "external_id": subject.external_id,
        "status": submission.status,
        "reason": submission.reason,
        "changes": submission.changes,
        "live": subject.live,
        "decided_at": isoformat(submission.decided_at),
    }


def approve(session: Session, submission: ReviewSubmission, reviewer: User) -> ReviewSubmission:
    return _decide(session, submission, reviewer, "approved", None)


def reject(session: Session, submission: ReviewSubmission, reviewer: User, reason: str) -> ReviewSubmission:
    return _decide(session, submission, reviewer, "rejected", reason)
