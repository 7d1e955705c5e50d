"""The sample company in the shape of another system's export: `generate --shape salesforce|hubspot`.

After the native drops are written, the CRM entities that the system holds are rewritten as that
system's export (its objects, field names, picklist values, UTC timestamps, ids kept as they are)
and their native folders removed; the other entities stay native. Each native drop becomes one
export file with the same drop date in its name, row for row and line for line: rows with a bad
value keep it, and a row with a field too many keeps the extra field at its end, so that loading the
export through the system's preset quarantines what a native load quarantines, and builds the same
marts (tests/test_round_trip.py).
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster_project.ingest.drops import detect_encoding
from dagster_project.ingest.inventory import date_in_name

Row = dict[str, str]
Field = Callable[[Row], str]
SHANGHAI = timedelta(hours=8)  # no daylight saving time since 1991


def _col(name: str) -> Field:
    return lambda row: row.get(name, "")


def _mapped(name: str, values: dict[str, str]) -> Field:
    """A picklist value of the export for a native value; a value it lacks is written as it is."""
    return lambda row: values.get(row.get(name, ""), row.get(name, ""))


def _instant(text: str) -> datetime | None:
    """A native timestamp (Asia/Shanghai wall time, or with an offset) as a UTC instant."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.astimezone(UTC) if value.tzinfo else (value - SHANGHAI).replace(tzinfo=UTC)


def _utc(name: str) -> Field:
    """ISO 8601 in UTC with milliseconds and Z, as Salesforce's and HubSpot's APIs write it."""

    def field(row: Row) -> str:
        instant = _instant(row.get(name, ""))
        return instant.strftime("%Y-%m-%dT%H:%M:%S.000Z") if instant else row.get(name, "")

    return field


def _epoch_ms(name: str) -> Field:
    def field(row: Row) -> str:
        instant = _instant(row.get(name, ""))
        return str(int(instant.timestamp() * 1000)) if instant else row.get(name, "")

    return field


def _utc_midnight(name: str) -> Field:
    """A date as HubSpot stores a date property set in a Shanghai portal: that midnight, in UTC."""

    def field(row: Row) -> str:
        try:
            day = datetime.fromisoformat(row.get(name, "") + " 00:00:00")
        except ValueError:
            return row.get(name, "")
        return (day - SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    return field


def _first(*names: str) -> Field:
    return lambda row: next((row[n] for n in names if row.get(n)), "")


def _const(value: str) -> Field:
    return lambda row: value


@dataclass(frozen=True)
class ExportFile:
    """One object of the export: which native entity it is written from, and how."""

    entity: str  # "<source>/<entity>" of the native drops
    name: str  # file name, {date} replaced by the drop date
    columns: tuple[tuple[str, Field], ...]


CHANNEL_LABELS = {
    "baidu_sem": "Baidu SEM",
    "douyin": "Douyin",
    "xiaohongshu": "Xiaohongshu",
    "wechat": "WeChat",
    "email": "Email",
    "website": "Website",
    "trade_show": "Trade Show",
    "webinar": "Webinar",
    "referral": "Partner Referral",
    "partner": "Partner",
    "cold_call": "Cold Call",
}
SF_STAGES = {
    "qualification": "Qualification",
    "needs_analysis": "Needs Analysis",
    "proposal": "Proposal/Price Quote",
    "negotiation": "Negotiation/Review",
    "closed_won": "Closed Won",
    "closed_lost": "Closed Lost",
}
SF_LEAD_STATUS = {
    "new": "Open - Not Contacted",
    "working": "Working - Contacted",
    "nurturing": "Nurturing",
    "qualified": "Qualified",
    "disqualified": "Closed - Not Converted",
    "converted": "Closed - Converted",
}
SF_TYPES = {"new_business": "New Business", "renewal": "Renewal", "upsell": "Existing Customer - Upgrade"}
SF_ROLES = {"rep": "Sales Representative", "manager": "Sales Manager", "director": "Sales Director"}
SF_ACTIVITY = {"call": "Call", "email": "Email", "meeting": "Meeting", "visit": "Visit", "demo": "Demo"}
SF_CASE_TYPES = {"complaint": "Complaint", "inquiry": "Question", "technical": "Problem", "billing": "Billing"}
SF_PRIORITY = {"high": "High", "medium": "Medium", "low": "Low"}

SALESFORCE = (
    ExportFile(
        "crm/sales_reps",
        "User_{date}.csv",
        (
            ("Id", _col("rep_id")),
            ("Name", _col("rep_name")),
            ("Email", _col("email")),
            ("Division", _col("region")),
            ("Department", _col("team")),
            ("Title", _mapped("role", SF_ROLES)),
            ("ManagerId", _col("manager_id")),
            ("IsActive", lambda row: "false" if row.get("left_on") else "true"),
            ("Hire_Date__c", _col("hired_on")),
            ("Termination_Date__c", _col("left_on")),
            ("LastModifiedDate", _utc("updated_at")),
        ),
    ),
    ExportFile(
        "crm/accounts",
        "Account_{date}.csv",
        (
            ("Id", _col("account_id")),
            ("IsDeleted", _const("false")),
            ("Name", _col("account_name")),
            ("Industry", _col("industry")),
            ("NumberOfEmployees", _col("employee_count")),
            ("BillingState", _col("province")),
            ("BillingCity", _col("city")),
            ("Region__c", _col("region")),
            ("Payment_Terms_Days__c", _col("payment_terms_days")),
            ("OwnerId", _col("owner_rep_id")),
            ("CreatedDate", _utc("created_at")),
            ("LastModifiedDate", _utc("updated_at")),
        ),
    ),
    ExportFile(
        "crm/contacts",
        "Contact_{date}.csv",
        (
            ("Id", _col("contact_id")),
            ("AccountId", _col("account_id")),
            ("LastName", lambda row: row.get("full_name", "")[:1]),
            ("FirstName", lambda row: row.get("full_name", "")[1:]),
            ("Name", _col("full_name")),
            ("Title", _col("title")),
            ("Email", _col("email")),
            ("Phone", _col("phone")),
            ("CreatedDate", _utc("created_at")),
            ("LastModifiedDate", _utc("updated_at")),
        ),
    ),
    ExportFile(
        "crm/leads",
        "Lead_{date}.csv",
        (
            ("Id", _col("lead_id")),
            ("Company", _col("company_name")),
            ("Industry", _col("industry")),
            ("NumberOfEmployees", _col("employee_count")),
            ("Region__c", _col("region")),
            ("LeadSource", _mapped("channel", CHANNEL_LABELS)),
            ("Campaign__c", _col("campaign_id")),
            ("Status", _mapped("status", SF_LEAD_STATUS)),
            ("OwnerId", _col("owner_rep_id")),
            ("IsConverted", lambda row: "true" if row.get("converted_at") else "false"),
            ("ConvertedDate", lambda row: row.get("converted_at", "")[:10]),
            ("Converted_At__c", _utc("converted_at")),
            ("ConvertedAccountId", _col("converted_account_id")),
            ("ConvertedOpportunityId", _col("converted_opportunity_id")),
            ("CreatedDate", _utc("created_at")),
            ("LastModifiedDate", _utc("updated_at")),
        ),
    ),
    ExportFile(  # no lead field on Opportunity: the preset finds the lead through Lead.ConvertedOpportunityId
        "crm/opportunities",
        "Opportunity_{date}.csv",
        (
            ("Id", _col("opportunity_id")),
            ("AccountId", _col("account_id")),
            ("OwnerId", _col("owner_rep_id")),
            ("Type", _mapped("opportunity_type", SF_TYPES)),
            ("Product_Line__c", _col("product_line")),
            ("StageName", _mapped("stage", SF_STAGES)),
            ("Amount", _col("amount")),
            ("CurrencyIsoCode", _col("currency")),
            ("CloseDate", _col("close_date")),
            ("IsClosed", _col("is_closed")),
            ("IsWon", _col("is_won")),
            ("Loss_Reason__c", _col("loss_reason")),
            ("CreatedDate", _utc("created_at")),
            ("LastModifiedDate", _utc("updated_at")),
        ),
    ),
    ExportFile(
        "crm/opportunity_stage_history",
        "OpportunityHistory_{date}.csv",
        (
            ("OpportunityId", _col("opportunity_id")),
            ("StageName", _mapped("stage", SF_STAGES)),
            ("CreatedDate", _utc("entered_at")),
        ),
    ),
    ExportFile(
        "crm/activities",
        "Task_{date}.csv",
        (
            ("Id", _col("activity_id")),
            ("OwnerId", _col("rep_id")),
            ("WhoId", _col("lead_id")),
            ("WhatId", _first("opportunity_id", "account_id")),
            ("AccountId", _col("account_id")),
            ("Type", _mapped("activity_type", SF_ACTIVITY)),
            ("Status", _const("Completed")),
            ("ActivityDate", lambda row: row.get("occurred_at", "")[:10]),
            ("CompletedDateTime", _utc("occurred_at")),
            ("Is_Effective__c", _col("is_effective")),
            ("CreatedDate", _utc("created_at")),
        ),
    ),
    ExportFile(
        "crm/cases",
        "Case_{date}.csv",
        (
            ("Id", _col("case_id")),
            ("AccountId", _col("account_id")),
            ("Type", _mapped("category", SF_CASE_TYPES)),
            ("Priority", _mapped("priority", SF_PRIORITY)),
            ("CreatedDate", _utc("opened_at")),
            ("First_Response_At__c", _utc("first_response_at")),
            ("ClosedDate", _utc("resolved_at")),
        ),
    ),
    ExportFile(
        "marketing/campaigns",
        "Campaign_{date}.csv",
        (
            ("Id", _col("campaign_id")),
            ("Name", _col("campaign_name")),
            ("Type", _mapped("channel", CHANNEL_LABELS)),
            ("StartDate", _col("start_date")),
            ("EndDate", _col("end_date")),
            ("BudgetedCost", _col("budget")),
            ("CurrencyIsoCode", _col("currency")),
        ),
    ),
)

HS_STAGES = {
    "qualification": "appointmentscheduled",
    "needs_analysis": "qualifiedtobuy",
    "proposal": "presentationscheduled",
    "negotiation": "contractsent",
    "closed_won": "closedwon",
    "closed_lost": "closedlost",
}
HS_DEAL_TYPES = {"new_business": "newbusiness", "renewal": "renewal", "upsell": "upsell"}
HS_ENGAGEMENT = {"call": "CALL", "email": "EMAIL", "meeting": "MEETING", "visit": "MEETING", "demo": "MEETING"}
HS_ACTIVITY = {"visit": "Site Visit", "demo": "Demo"}
HS_CATEGORY = {
    "complaint": "COMPLAINT",
    "inquiry": "GENERAL_INQUIRY",
    "technical": "PRODUCT_ISSUE",
    "billing": "BILLING_ISSUE",
}
HS_PRIORITY = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}

HUBSPOT = (
    ExportFile(
        "crm/accounts",
        "hubspot-crm-exports-all-companies-{date}.csv",
        (
            ("hs_object_id", _col("account_id")),
            ("name", _col("account_name")),
            ("industry", _col("industry")),
            ("numberofemployees", _col("employee_count")),
            ("state", _col("province")),
            ("city", _col("city")),
            ("sales_region", _col("region")),
            ("payment_terms_days", _col("payment_terms_days")),
            ("hubspot_owner_id", _col("owner_rep_id")),
            ("createdate", _utc("created_at")),
            ("hs_lastmodifieddate", _utc("updated_at")),
        ),
    ),
    ExportFile(
        "crm/contacts",
        "hubspot-crm-exports-all-contacts-{date}.csv",
        (
            ("hs_object_id", _col("contact_id")),
            ("firstname", lambda row: row.get("full_name", "")[1:]),
            ("lastname", lambda row: row.get("full_name", "")[:1]),
            ("jobtitle", _col("title")),
            ("email", _col("email")),
            ("phone", _col("phone")),
            ("associatedcompanyid", _col("account_id")),
            ("createdate", _utc("created_at")),
            ("lastmodifieddate", _utc("updated_at")),
        ),
    ),
    ExportFile(
        "crm/opportunities",
        "hubspot-crm-exports-all-deals-{date}.csv",
        (
            ("hs_object_id", _col("opportunity_id")),
            ("pipeline", _const("default")),
            ("dealstage", _mapped("stage", HS_STAGES)),
            ("dealtype", _mapped("opportunity_type", HS_DEAL_TYPES)),
            ("amount", _col("amount")),
            ("deal_currency_code", _col("currency")),
            ("closedate", _utc_midnight("close_date")),
            ("createdate", _utc("created_at")),
            ("hs_lastmodifieddate", _utc("updated_at")),
            ("hubspot_owner_id", _col("owner_rep_id")),
            ("hs_is_closed", _col("is_closed")),
            ("hs_is_closed_won", _col("is_won")),
            ("closed_lost_reason", _col("loss_reason")),
            ("product_line", _col("product_line")),
            ("associations.companies", _col("account_id")),
            ("associations.leads", _col("lead_id")),
        ),
    ),
    ExportFile(
        "crm/opportunity_stage_history",
        "deal_stage_history_{date}.csv",
        (
            ("hs_object_id", _col("opportunity_id")),
            ("value", _mapped("stage", HS_STAGES)),
            ("timestamp", _utc("entered_at")),
            ("sourceType", _const("CRM_UI")),
        ),
    ),
    ExportFile(
        "crm/activities",
        "hubspot-crm-exports-engagements-{date}.csv",
        (
            ("hs_object_id", _col("activity_id")),
            ("hs_engagement_type", _mapped("activity_type", HS_ENGAGEMENT)),
            ("hs_activity_type", lambda row: HS_ACTIVITY.get(row.get("activity_type", ""), "")),
            ("hs_timestamp", _epoch_ms("occurred_at")),
            ("hubspot_owner_id", _col("rep_id")),
            ("associations.companies", _col("account_id")),
            ("associations.deals", _col("opportunity_id")),
            ("associations.leads", _col("lead_id")),
            ("effective_touch", _col("is_effective")),
            ("hs_createdate", _utc("created_at")),
        ),
    ),
    ExportFile(
        "crm/cases",
        "hubspot-crm-exports-all-tickets-{date}.csv",
        (
            ("hs_object_id", _col("case_id")),
            ("hs_ticket_category", _mapped("category", HS_CATEGORY)),
            ("hs_ticket_priority", _mapped("priority", HS_PRIORITY)),
            ("createdate", _utc("opened_at")),
            ("first_agent_reply_date", _utc("first_response_at")),
            ("closed_date", _utc("resolved_at")),
            ("associations.companies", _col("account_id")),
        ),
    ),
)

SHAPES: dict[str, tuple[ExportFile, ...]] = {"salesforce": SALESFORCE, "hubspot": HUBSPOT}


def _read_native(path: Path) -> list[list[str]]:
    """A native drop's lines as fields (header first), whatever its encoding and compression."""
    raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    text = raw.decode("utf-8-sig" if detect_encoding(path) == "utf-8" else "gb18030")
    return list(csv.reader(io.StringIO(text)))


def _convert(lines: list[list[str]], export: ExportFile) -> str:
    header, out = lines[0], io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in export.columns])
    for fields in lines[1:]:
        row = dict(zip(header, fields, strict=False))
        extra = fields[len(header) :]  # a malformed line's field too many stays one too many
        writer.writerow([field(row) for _, field in export.columns] + extra)
    return out.getvalue()


def clear_shapes(out_dir: Path) -> None:
    """Remove the export folders an earlier `generate --shape` wrote."""
    for name in SHAPES:
        if (out_dir / name).is_dir():
            shutil.rmtree(out_dir / name)


def write_shape(out_dir: Path, shape: str) -> dict[str, list[str]]:
    """Rewrite the native drops of the shape's entities as the system's export files in
    `<out_dir>/<shape>/`, then remove those native folders. Returns the files per entity."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r} (one of native, {', '.join(SHAPES)})")
    target = out_dir / shape
    target.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    for export in SHAPES[shape]:
        folder = out_dir / export.entity
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            found = date_in_name(path.name)
            name = export.name.format(date=found.isoformat() if found else path.stem)
            (target / name).write_text(_convert(_read_native(path), export), encoding="utf-8")
            written.setdefault(export.entity, []).append(f"{shape}/{name}")
        shutil.rmtree(folder)
        if not any(folder.parent.iterdir()):  # a source folder left empty (crm/ in the Salesforce shape)
            folder.parent.rmdir()
    return written
