"""Marketing: the campaign calendar, daily ad spend priced per lead, and website behaviour."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from sample_company.config import Streams
from sample_company.pipeline import LOST, OTHER, WON, Pipeline
from sample_company.timeline import (
    DAY,
    HOUR,
    NULL,
    Timeline,
    day_of,
    month_id,
    month_start_day,
)

# Campaign names per online channel: (always-on campaign of a quarter, burst campaign of a month).
ONLINE_NAMES = {
    "baidu_sem": ("百度SEM-品牌词 {q}", "百度SEM-{line}关键词 {ym}"),
    "douyin": ("抖音信息流-常投 {q}", "抖音-{line}短视频 {ym}"),
    "xiaohongshu": ("小红书-工业种草 {q}", "小红书-{line}案例笔记 {ym}"),
    "wechat": ("微信公众号-行业洞察 {q}", "微信广告-{line}推广 {ym}"),
    "email": ("EDM-客户月刊 {q}", "EDM-{line}专题 {ym}"),
    "website": ("官网SEO-内容运营 {q}", "官网落地页-{line} {ym}"),
}
UTM_SOURCES = {
    "baidu_sem": "baidu",
    "douyin": "douyin",
    "xiaohongshu": "xiaohongshu",
    "wechat": "wechat",
    "email": "edm",
    "website": "organic",
    "trade_show": "expo",
    "webinar": "webinar",
}
SOURCE_NAMES = list(dict.fromkeys(UTM_SOURCES.values()))
EVENT_TYPES = (
    "page_view",
    "pricing_page_view",
    "whitepaper_download",
    "webinar_attended",
    "demo_request",
    "trial_signup",
)
CONTENT_PAGES = (
    "/",
    "/products",
    "/products/sensors",
    "/products/controllers",
    "/products/servo",
    "/products/vision",
    "/products/software",
    "/products/accessories",
    "/services",
    "/solutions/automotive",
    "/solutions/electronics",
    "/solutions/new-energy",
    "/solutions/medical",
    "/cases",
    "/cases/automotive-line",
    "/cases/battery-plant",
    "/blog/predictive-maintenance",
    "/blog/vision-inspection",
    "/blog/mes-rollout",
    "/about",
    "/contact",
    "/news",
    "/support/downloads",
)
BEHAVIOUR_PAGES = {
    "pricing_page_view": ("/pricing", "/pricing/software", "/pricing/services"),
    "whitepaper_download": (
        "/resources/whitepaper-smart-factory",
        "/resources/whitepaper-vision-qc",
        "/resources/whitepaper-mes",
    ),
    "webinar_attended": ("/events/webinar-live", "/events/webinar-replay"),
    "demo_request": ("/contact/demo",),
    "trial_signup": ("/trial/signup",),
}


@dataclass
class Campaigns:
    channel: np.ndarray
    start: np.ndarray
    end: np.ndarray
    name: np.ndarray
    planned: np.ndarray  # budget of offline campaigns (online ones get theirs from the spend)
    number: np.ndarray
    channels: list[str]

    @property
    def n(self) -> int:
        return len(self.channel)


def build_campaigns(cfg: dict, timeline: Timeline, rng: np.random.Generator) -> Campaigns:
    mc = cfg["marketing"]
    channels = cfg["pipeline"]["channels"]
    lines = [ln["name"] for ln in cfg["products"]["lines"]]
    ch, st, en, nm, pl = [], [], [], [], []
    m_first = int(month_id(np.array([timeline.sim_lo]))[0])
    m_last = int(month_id(np.array([timeline.end_day]))[0])
    q_first, q_last = m_first // 3, m_last // 3
    for q in range(q_first, q_last + 1):
        qs = int(month_start_day(np.array([q * 3]))[0])
        qe = int(month_start_day(np.array([q * 3 + 3]))[0]) - 1
        year, quarter = 1970 + q // 4, q % 4 + 1
        for name in cfg["pipeline"]["online_channels"]:
            always, burst = ONLINE_NAMES[name]
            ch.append(channels.index(name))
            st.append(qs)
            en.append(qe)
            pl.append(0.0)
            nm.append(always.format(q=f"{year}Q{quarter}"))
            for _ in range(rng.poisson(mc["bursts_per_quarter"])):
                b0 = int(rng.integers(qs, qe - 13))
                b1 = b0 + int(rng.integers(14, 43))
                ym = date.fromordinal(date(1970, 1, 1).toordinal() + b0).strftime("%Y%m")
                ch.append(channels.index(name))
                st.append(b0)
                en.append(b1)
                pl.append(0.0)
                nm.append(burst.format(line=lines[rng.integers(0, len(lines))], ym=ym))
    years = range(1970 + m_first // 12, 1970 + m_last // 12 + 1)
    for y in years:
        for month, show in mc["trade_shows"]:
            s = day_of(date(y, int(month), int(rng.integers(8, 21))))
            ch.append(channels.index("trade_show"))
            st.append(s)
            en.append(s + 2)
            nm.append(f"{y} {show}")
            pl.append(float(np.round(rng.uniform(*mc["trade_show_budget"]), -3)))
    topics = mc["webinar_topics"]
    for k, m in enumerate(range(m_first, m_last + 1)):
        s = int(month_start_day(np.array([m]))[0]) + 14
        s += (3 - (s + 3) % 7) % 7  # the Thursday on or after the 15th
        ym = date.fromordinal(date(1970, 1, 1).toordinal() + s).strftime("%Y%m")
        ch.append(channels.index("webinar"))
        st.append(s)
        en.append(s)
        nm.append(f"线上研讨会-{topics[k % len(topics)]} {ym}")
        pl.append(float(np.round(rng.uniform(*mc["webinar_budget"]), -2)))
    start, end = np.array(st, dtype="int64"), np.array(en, dtype="int64")
    keep = (start <= timeline.end_day) & (end >= timeline.sim_lo)
    start, end = start[keep], end[keep]
    channel = np.array(ch)[keep]
    order = np.lexsort((channel, start))
    number = np.empty(len(start), dtype="int64")
    number[order] = np.arange(1, len(start) + 1)
    return Campaigns(channel, start, end, np.array(nm, dtype=object)[keep], np.array(pl)[keep], number, channels)


def campaign_assigner(campaigns: Campaigns, cfg: dict):
    """A function giving each lead (channel, day) a campaign running then (NULL when none fits)."""
    channels = cfg["pipeline"]["channels"]
    online = [channels.index(c) for c in cfg["pipeline"]["online_channels"]]
    follow_up = {channels.index("trade_show"): 45, channels.index("webinar"): 20}

    def assign(rng: np.random.Generator, channel: np.ndarray, day: np.ndarray) -> np.ndarray:
        out = np.full(len(channel), NULL, dtype="int64")
        for c in online:
            rows = np.flatnonzero(channel == c)
            camps = np.flatnonzero(campaigns.channel == c)
            if not len(rows) or not len(camps):
                continue
            d = day[rows][:, None]
            active = (campaigns.start[camps][None, :] <= d) & (d <= campaigns.end[camps][None, :])
            score = rng.random(active.shape) * active
            pick = np.argmax(score, axis=1)
            ok = active.any(axis=1)
            out[rows[ok]] = camps[pick[ok]]
        for c, window in follow_up.items():
            rows = np.flatnonzero(channel == c)
            camps = np.flatnonzero(campaigns.channel == c)
            if not len(rows) or not len(camps):
                continue
            d = day[rows][:, None]
            s = campaigns.start[camps][None, :]
            active = (s <= d) & (d <= s + window)
            pick = np.argmax(np.where(active, s, -1), axis=1)
            ok = active.any(axis=1)
            out[rows[ok]] = camps[pick[ok]]
        return out

    return assign


def online_cpl(cfg: dict, pipe: Pipeline, timeline: Timeline) -> dict[int, float]:
    """Cost per lead of each online channel, such that online spend / online leads = the configured CAC."""
    mc = cfg["marketing"]
    channels = cfg["pipeline"]["channels"]
    visible = pipe.ld_created <= (timeline.end_day + 1) * DAY - 1
    counts = {
        channels.index(c): int(((pipe.ld_channel == channels.index(c)) & visible).sum()) for c in mc["cpl_multiplier"]
    }
    mult = {channels.index(c): float(m) for c, m in mc["cpl_multiplier"].items()}
    total = sum(counts.values())
    weighted = sum(counts[c] * mult[c] for c in counts) / max(total, 1)
    return {c: mc["online_cac"] * mult[c] / max(weighted, 1e-9) for c in counts}


def ad_spend_tables(
    cfg: dict, timeline: Timeline, campaigns: Campaigns, pipe: Pipeline, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """marketing/ad_spend_daily (spend per campaign and day) and the resulting campaign budgets."""
    mc = cfg["marketing"]
    channels = campaigns.channels
    lo = np.maximum(campaigns.start, timeline.sim_lo)
    hi = np.minimum(campaigns.end, timeline.end_day)
    days = np.maximum(hi - lo + 1, 0)
    camp = np.repeat(np.arange(campaigns.n), days)
    day = np.repeat(lo, days) + (np.arange(len(camp)) - np.repeat(np.cumsum(days) - days, days))
    ch = campaigns.channel[camp]
    cpl = online_cpl(cfg, pipe, timeline)
    is_online = np.isin(ch, list(cpl))
    mon = month_id(day)
    spend = np.zeros(len(camp))

    # Online: per channel and month, leads x cost per lead, spread over the running campaigns by their
    # leads (plus a floor, so campaigns without leads still spend) and over days.
    visible = (pipe.ld_created <= (timeline.end_day + 1) * DAY - 1) & (pipe.ld_campaign != NULL)
    lc = pipe.ld_campaign[visible]
    lm = month_id(pipe.ld_created[visible] // DAY)
    key_pairs = camp.astype("int64") * 10_000 + mon
    lead_keys = lc.astype("int64") * 10_000 + lm
    uk, inv = np.unique(key_pairs, return_inverse=True)
    leads_per_key = np.zeros(len(uk))
    pos = np.searchsorted(uk, lead_keys)
    found = (pos < len(uk)) & (uk[np.minimum(pos, len(uk) - 1)] == lead_keys)
    np.add.at(leads_per_key, pos[found], 1.0)
    w_day = rng.gamma(4.0, 1.0, len(camp))
    days_per_key = np.bincount(inv, minlength=len(uk))
    raw = (leads_per_key[inv] + 0.15 * days_per_key[inv] / 30.0) * w_day / np.bincount(inv, weights=w_day)[inv]
    for c, price in cpl.items():
        rows = np.flatnonzero(ch == c)
        if not len(rows):
            continue
        cm = mon[rows]
        um, minv = np.unique(cm, return_inverse=True)
        leads_m = np.array([((pipe.ld_channel[visible] == c) & (lm == m)).sum() for m in um], dtype=float)
        raw_m = np.bincount(minv, weights=raw[rows])
        target = np.where(leads_m > 0, price * leads_m * rng.uniform(0.92, 1.08, len(um)), raw_m * price)
        spend[rows] = raw[rows] * (target / np.maximum(raw_m, 1e-9))[minv]
    # Offline: the planned budget over the event days.
    off = ~is_online
    days_of = np.bincount(camp, minlength=campaigns.n)
    spend[off] = campaigns.planned[camp[off]] / np.maximum(days_of[camp[off]], 1)
    spend = np.round(spend, 2)

    cpc = np.zeros(len(channels))
    ctr = np.ones(len(channels))
    for name, v in mc["cpc"].items():
        cpc[channels.index(name)] = v
    for name, v in mc["ctr"].items():
        ctr[channels.index(name)] = v
    clicks = np.where(is_online, np.round(spend / np.maximum(cpc[ch] * rng.uniform(0.8, 1.2, len(ch)), 0.01)), NULL)
    imps = np.where(is_online, np.round(clicks / (ctr[ch] * rng.uniform(0.8, 1.2, len(ch)))), NULL)
    frame = pd.DataFrame(
        {
            "spend_date": day,
            "campaign_id": campaigns.number[camp],
            "channel": pd.Categorical.from_codes(ch, channels),
            "impressions": imps.astype("int64"),
            "clicks": clicks.astype("int64"),
            "spend": spend,
            "currency": pd.Categorical.from_codes(np.zeros(len(ch), dtype="int64"), ["CNY"]),
            "_drop": timeline.drop_of(day * DAY + 12 * HOUR),
        }
    )
    frame = frame[frame["_drop"] < timeline.n_drops].sort_values(["_drop", "spend_date", "campaign_id"], kind="stable")
    total = np.bincount(camp, weights=spend, minlength=campaigns.n)
    budget = np.where(
        np.isin(campaigns.channel, list(cpl)),
        np.round(total * rng.uniform(0.95, 1.2, campaigns.n), -3),
        campaigns.planned,
    )
    return frame, np.maximum(budget, 1000.0)


AD_SPEND_KINDS = {
    "spend_date": "date",
    "campaign_id": "id:CP:5",
    "impressions": "int",
    "clicks": "int",
    "spend": "money",
}


def campaigns_table(campaigns: Campaigns, budget: np.ndarray, timeline: Timeline) -> pd.DataFrame:
    """marketing/campaigns: each campaign in the drop of the month it was set up (two weeks before it starts)."""
    frame = pd.DataFrame(
        {
            "campaign_id": campaigns.number,
            "campaign_name": campaigns.name,
            "channel": pd.Categorical.from_codes(campaigns.channel, campaigns.channels),
            "start_date": campaigns.start,
            "end_date": campaigns.end,
            "budget": budget,
            "currency": pd.Categorical.from_codes(np.zeros(campaigns.n, dtype="int64"), ["CNY"]),
            "_drop": timeline.drop_of((campaigns.start - 14) * DAY),
        }
    )
    return frame.sort_values(["_drop", "campaign_id"], kind="stable")


CAMPAIGNS_KINDS = {"campaign_id": "id:CP:5", "start_date": "date", "end_date": "date", "budget": "money"}


def _scramble(visitor: np.ndarray) -> np.ndarray:
    """A cookie-like number for each visitor (a bijection on 40 bits)."""
    return (visitor.astype("uint64") * np.uint64(0x9E3779B1) + np.uint64(0x5DEECE66D)) % np.uint64(1 << 40)


def _pages(rng: np.random.Generator, etype: np.ndarray) -> np.ndarray:
    pages = np.array(CONTENT_PAGES, dtype=object)[rng.integers(0, len(CONTENT_PAGES), len(etype))]
    for k, name in enumerate(EVENT_TYPES[1:], start=1):
        rows = np.flatnonzero(etype == k)
        options = np.array(BEHAVIOUR_PAGES[name], dtype=object)
        pages[rows] = options[rng.integers(0, len(options), len(rows))]
    return pages


@dataclass
class EventBatch:
    t: np.ndarray
    lead: np.ndarray
    visitor: np.ndarray
    etype: np.ndarray
    page: np.ndarray
    utm_source: np.ndarray  # index into the utm source list, -1 none
    utm_campaign: np.ndarray


def lead_events(cfg: dict, pipe: Pipeline, timeline: Timeline, rng: np.random.Generator) -> EventBatch:
    """Events of visitors who became leads: anonymous browsing before, identified behaviour after capture."""
    mc = cfg["marketing"]
    channels = cfg["pipeline"]["channels"]
    online = np.isin(pipe.ld_channel, [channels.index(c) for c in cfg["pipeline"]["online_channels"]])
    present = rng.random(pipe.n_leads) < np.where(
        online, mc["lead_web_presence"]["online"], mc["lead_web_presence"]["offline"]
    )
    leads = np.flatnonzero(present & (pipe.ld_created <= (timeline.end_day + 1) * DAY - 1))
    created = pipe.ld_created[leads]
    src_of_channel = np.array([SOURCE_NAMES.index(UTM_SOURCES[c]) if c in UTM_SOURCES else -1 for c in channels])

    # Before capture: anonymous page views, the first one the landing from the campaign.
    k0 = 1 + rng.poisson(2.0, len(leads))
    pre_lead = np.repeat(leads, k0)
    pre_t = np.repeat(created, k0) - (rng.random(len(pre_lead)) * 30 * DAY).astype("int64")
    first = np.zeros(len(pre_lead), dtype=bool)
    first[np.concatenate([[0], np.cumsum(k0)[:-1]])] = True
    # Capture: the contact form, or the webinar itself for webinar leads.
    webinar = channels.index("webinar")
    cap_type = np.where(pipe.ld_channel[leads] == webinar, EVENT_TYPES.index("webinar_attended"), 0)
    # After capture: behaviours by the lead's fate, and more page views.
    fate_key = {WON: "won", LOST: "lost", OTHER: "other"}
    post_lead, post_type, post_t = [], [], []
    conv = pipe.ld_final[leads]
    window = np.where(pipe.ld_account[leads] != NULL, np.maximum(conv - created, DAY) * 1.2, 45 * DAY)
    for k, name in enumerate(EVENT_TYPES[1:], start=1):
        p = np.zeros(len(leads))
        for fate, key in fate_key.items():
            p[pipe.ld_fate[leads] == fate] = mc["behaviour"][key][name]
        hit = np.flatnonzero(rng.random(len(leads)) < p)
        post_lead.append(leads[hit])
        post_type.append(np.full(len(hit), k))
        post_t.append(created[hit] + (rng.random(len(hit)) * window[hit]).astype("int64"))
    kv = rng.poisson(3.0, len(leads))
    post_lead.append(np.repeat(leads, kv))
    post_type.append(np.zeros(kv.sum(), dtype="int64"))
    post_t.append(np.repeat(created, kv) + (rng.random(kv.sum()) * 60 * DAY).astype("int64"))

    lead_ids = np.concatenate([np.full(len(pre_lead), NULL), leads, *post_lead])
    who = np.concatenate([pre_lead, leads, *post_lead])
    etype = np.concatenate([np.zeros(len(pre_lead), dtype="int64"), cap_type, *post_type])
    t = np.concatenate([pre_t, created, *post_t])
    page = _pages(rng, etype)
    page[len(pre_lead) : len(pre_lead) + len(leads)] = np.where(
        cap_type > 0, page[len(pre_lead) : len(pre_lead) + len(leads)], "/contact/form"
    )
    utm = np.full(len(t), -1, dtype="int64")
    utm_c = np.full(len(t), NULL, dtype="int64")
    landing = np.flatnonzero(first)
    utm[landing] = src_of_channel[pipe.ld_channel[pre_lead[landing]]]
    utm_c[landing] = np.where(utm[landing] >= 0, pipe.ld_campaign[pre_lead[landing]], NULL)
    return EventBatch(t, lead_ids, who + 1, etype, page, utm, utm_c)


def web_event_drops(
    cfg: dict, timeline: Timeline, pipe: Pipeline, campaigns: Campaigns, streams: Streams, scale: float
) -> Iterator[tuple[int, pd.DataFrame]]:
    """marketing/web_events per monthly drop: the leads' events plus anonymous traffic of the month."""
    mc = cfg["marketing"]
    led = lead_events(cfg, pipe, timeline, streams("web_leads"))
    drop_of = timeline.drop_of(led.t)
    order = np.lexsort((led.visitor, led.t))
    led_sorted = {f: getattr(led, f)[order] for f in led.__dataclass_fields__}
    led_drop = drop_of[order]
    assign = campaign_assigner(campaigns, cfg)
    channels = cfg["pipeline"]["channels"]
    online = np.array([channels.index(c) for c in cfg["pipeline"]["online_channels"]])
    online_src = np.array([SOURCE_NAMES.index(UTM_SOURCES[c]) for c in cfg["pipeline"]["online_channels"]])
    next_visitor = pipe.n_leads + 1
    next_event = 1
    growth = np.log1p(cfg["revenue"]["annual_growth"])
    p_behaviour = np.array([0.0] + [mc["anonymous_behaviour"][e] for e in EVENT_TYPES[1:]])
    p_behaviour[0] = 1 - p_behaviour.sum()
    lo_day = timeline.start_day
    for d in range(timeline.n_drops):
        hi_day = int(timeline.drop_days[d])
        rng = streams("web_anonymous", d)
        visits = mc["anonymous_visitors_per_month"] * scale * (hi_day - lo_day + 1) / 30.4
        visits *= np.exp(-growth * ((timeline.end_day - hi_day) / 365))  # the years back from the end
        n_vis, vis, t, etype, utm, utm_c = _anonymous_month(
            rng, visits, lo_day, hi_day, mc["anonymous_events_mean"], p_behaviour, online, online_src, assign
        )
        sel = slice(np.searchsorted(led_drop, d, "left"), np.searchsorted(led_drop, d, "right"))
        t_all = np.concatenate([led_sorted["t"][sel], t])
        lead_all = np.concatenate([led_sorted["lead"][sel], np.full(len(t), NULL)])
        visitor_all = np.concatenate([led_sorted["visitor"][sel], next_visitor + vis])
        type_all = np.concatenate([led_sorted["etype"][sel], etype])
        page_all = np.concatenate([led_sorted["page"][sel], _pages(rng, etype)])
        utm_all = np.concatenate([led_sorted["utm_source"][sel], utm])
        utmc_all = np.concatenate([led_sorted["utm_campaign"][sel], utm_c])
        order = np.lexsort((visitor_all, t_all))
        n = len(order)
        lead_all = lead_all[order]
        frame = pd.DataFrame(
            {
                "event_id": next_event + np.arange(n),
                "occurred_at": t_all[order],
                "lead_id": np.where(lead_all != NULL, pipe.ld_number[np.maximum(lead_all, 0)], NULL),
                "anonymous_id": _scramble(visitor_all[order]).astype("int64"),
                "event_type": pd.Categorical.from_codes(type_all[order], list(EVENT_TYPES)),
                "page_url": cfg["company"]["web_domain"] + page_all[order],
                "utm_source": pd.Categorical.from_codes(utm_all[order], SOURCE_NAMES),
                "utm_campaign": np.where(
                    utmc_all[order] != NULL, campaigns.number[np.maximum(utmc_all[order], 0)], NULL
                ),
            }
        )
        next_event += n
        next_visitor += n_vis
        lo_day = hi_day + 1
        yield d, frame


def _anonymous_month(
    rng: np.random.Generator,
    visits: float,
    lo_day: int,
    hi_day: int,
    events_mean: float,
    p_behaviour: np.ndarray,
    online: np.ndarray,
    online_src: np.ndarray,
    assign: Callable,
) -> tuple:
    """Anonymous traffic of one drop's days: visitors, their events (visitor, time, type) and the
    utm source and campaign of the landing events of visits from an online campaign."""
    n_vis = rng.poisson(visits)
    per = rng.geometric(1 / events_mean, n_vis)
    vis = np.repeat(np.arange(n_vis), per)
    first = np.cumsum(per) - per
    start = lo_day * DAY + (rng.random(n_vis) * (hi_day - lo_day + 1) * DAY).astype("int64")
    step = (np.arange(len(vis)) - np.repeat(first, per)) * rng.integers(20, 400, len(vis))
    t = np.minimum(np.repeat(start, per) + step, (hi_day + 1) * DAY - 1)
    etype = rng.choice(len(EVENT_TYPES), size=len(vis), p=p_behaviour)
    # A share of visits arrive from an online campaign (utm on the landing event).
    from_ad = np.flatnonzero(rng.random(n_vis) >= 0.45)
    which = rng.integers(0, len(online), len(from_ad))
    utm = np.full(len(vis), -1, dtype="int64")
    utm_c = np.full(len(vis), NULL, dtype="int64")
    landing = first[from_ad]
    utm[landing] = online_src[which]
    utm_c[landing] = assign(rng, online[which], t[landing] // DAY)
    return n_vis, vis, t, etype, utm, utm_c


WEB_EVENTS_KINDS = {
    "event_id": "id:EV:10",
    "occurred_at": "ts",
    "lead_id": "id:LD:8",
    "anonymous_id": "hex:v:10",
    "utm_campaign": "id:CP:5",
}
