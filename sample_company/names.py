"""Chinese vocabulary of the sample company: person and company names, places, titles, contact details.

Every sampler is vectorised (numpy index arrays in, string arrays out). All characters are in GBK, so
any drop may be written GBK-encoded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Surnames with pinyin, most common first (weights follow their frequency in China).
SURNAMES: tuple[tuple[str, str], ...] = (
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("高", "gao"),
    ("林", "lin"),
    ("罗", "luo"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
    ("唐", "tang"),
    ("许", "xu"),
    ("韩", "han"),
    ("冯", "feng"),
    ("邓", "deng"),
    ("曹", "cao"),
    ("彭", "peng"),
    ("曾", "zeng"),
    ("肖", "xiao"),
    ("田", "tian"),
    ("董", "dong"),
    ("袁", "yuan"),
    ("潘", "pan"),
    ("于", "yu"),
    ("蒋", "jiang"),
    ("蔡", "cai"),
    ("余", "yu"),
    ("杜", "du"),
    ("叶", "ye"),
    ("程", "cheng"),
    ("苏", "su"),
    ("魏", "wei"),
    ("吕", "lv"),
    ("丁", "ding"),
    ("任", "ren"),
    ("沈", "shen"),
    ("姚", "yao"),
    ("卢", "lu"),
    ("姜", "jiang"),
    ("崔", "cui"),
    ("钟", "zhong"),
    ("谭", "tan"),
    ("陆", "lu"),
    ("汪", "wang"),
    ("范", "fan"),
    ("金", "jin"),
    ("石", "shi"),
    ("廖", "liao"),
    ("贾", "jia"),
    ("夏", "xia"),
    ("韦", "wei"),
    ("付", "fu"),
    ("方", "fang"),
    ("白", "bai"),
    ("邹", "zou"),
    ("孟", "meng"),
    ("熊", "xiong"),
    ("秦", "qin"),
    ("邱", "qiu"),
    ("江", "jiang"),
    ("尹", "yin"),
    ("薛", "xue"),
    ("闫", "yan"),
    ("段", "duan"),
    ("雷", "lei"),
    ("侯", "hou"),
    ("龙", "long"),
    ("史", "shi"),
    ("陶", "tao"),
    ("黎", "li"),
    ("贺", "he"),
    ("顾", "gu"),
    ("毛", "mao"),
    ("郝", "hao"),
    ("龚", "gong"),
    ("邵", "shao"),
    ("万", "wan"),
    ("钱", "qian"),
    ("严", "yan"),
    ("欧阳", "ouyang"),
    ("上官", "shangguan"),
)

# Characters used in given names, with pinyin.
GIVEN_CHARS: tuple[tuple[str, str], ...] = (
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀", "xiu"),
    ("霞", "xia"),
    ("平", "ping"),
    ("刚", "gang"),
    ("桂", "gui"),
    ("英", "ying"),
    ("华", "hua"),
    ("建", "jian"),
    ("国", "guo"),
    ("文", "wen"),
    ("辉", "hui"),
    ("鹏", "peng"),
    ("宇", "yu"),
    ("浩", "hao"),
    ("晨", "chen"),
    ("欣", "xin"),
    ("怡", "yi"),
    ("婷", "ting"),
    ("雪", "xue"),
    ("琳", "lin"),
    ("晶", "jing"),
    ("慧", "hui"),
    ("俊", "jun"),
    ("峰", "feng"),
    ("斌", "bin"),
    ("波", "bo"),
    ("宁", "ning"),
    ("凯", "kai"),
    ("健", "jian"),
    ("亮", "liang"),
    ("飞", "fei"),
    ("翔", "xiang"),
    ("博", "bo"),
    ("志", "zhi"),
    ("红", "hong"),
    ("玲", "ling"),
    ("萍", "ping"),
    ("燕", "yan"),
    ("梅", "mei"),
    ("莉", "li"),
    ("丹", "dan"),
    ("琪", "qi"),
    ("佳", "jia"),
    ("子", "zi"),
    ("轩", "xuan"),
    ("涵", "han"),
    ("睿", "rui"),
    ("思", "si"),
    ("雨", "yu"),
    ("嘉", "jia"),
    ("梓", "zi"),
    ("铭", "ming"),
    ("泽", "ze"),
    ("昊", "hao"),
    ("天", "tian"),
    ("海", "hai"),
    ("林", "lin"),
    ("春", "chun"),
    ("晓", "xiao"),
    ("东", "dong"),
    ("云", "yun"),
    ("彬", "bin"),
    ("坤", "kun"),
    ("帆", "fan"),
    ("阳", "yang"),
    ("蕾", "lei"),
    ("倩", "qian"),
    ("颖", "ying"),
    ("瑶", "yao"),
    ("璐", "lu"),
    ("薇", "wei"),
    ("岩", "yan"),
    ("松", "song"),
    ("成", "cheng"),
    ("德", "de"),
    ("荣", "rong"),
    ("新", "xin"),
    ("永", "yong"),
    ("立", "li"),
)

# Brand words of company names: two syllables drawn from these (with pinyin for the email domain).
BRAND_CHARS: tuple[tuple[str, str], ...] = (
    ("华", "hua"),
    ("瑞", "rui"),
    ("恒", "heng"),
    ("达", "da"),
    ("鼎", "ding"),
    ("盛", "sheng"),
    ("中", "zhong"),
    ("天", "tian"),
    ("宏", "hong"),
    ("远", "yuan"),
    ("金", "jin"),
    ("泰", "tai"),
    ("安", "an"),
    ("信", "xin"),
    ("博", "bo"),
    ("新", "xin"),
    ("创", "chuang"),
    ("科", "ke"),
    ("锐", "rui"),
    ("精", "jing"),
    ("凯", "kai"),
    ("联", "lian"),
    ("海", "hai"),
    ("东", "dong"),
    ("隆", "long"),
    ("嘉", "jia"),
    ("汇", "hui"),
    ("众", "zhong"),
    ("通", "tong"),
    ("力", "li"),
    ("德", "de"),
    ("正", "zheng"),
    ("和", "he"),
    ("祥", "xiang"),
    ("富", "fu"),
    ("永", "yong"),
    ("佳", "jia"),
    ("晟", "sheng"),
    ("昌", "chang"),
    ("宇", "yu"),
    ("坤", "kun"),
    ("峰", "feng"),
    ("鑫", "xin"),
    ("源", "yuan"),
    ("辰", "chen"),
    ("星", "xing"),
    ("捷", "jie"),
    ("尚", "shang"),
)

# Industry words of company names, per industry (same order as config `industries`).
INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "汽车零部件": ("汽车部件", "汽配科技", "车辆零部件"),
    "电子制造": ("电子科技", "精密电子", "电子制造"),
    "新能源": ("新能源科技", "储能科技", "光伏科技"),
    "医疗器械": ("医疗器械", "医疗科技", "生物医疗"),
    "食品饮料": ("食品", "饮料", "食品科技"),
    "化工材料": ("化工", "新材料", "化学品"),
    "物流仓储": ("物流", "供应链", "仓储科技"),
    "机械装备": ("机械", "装备制造", "重工"),
    "纺织服装": ("纺织", "服饰", "纺织科技"),
    "建材家居": ("建材", "家居", "新型建材"),
    "制药": ("制药", "药业", "生物制药"),
    "半导体": ("半导体", "微电子", "芯片科技"),
}

COMPANY_SUFFIXES: tuple[tuple[str, float], ...] = (
    ("有限公司", 0.72),
    ("股份有限公司", 0.18),
    ("集团有限公司", 0.06),
    ("科技有限公司", 0.04),
)

# Places per region: (province, city, weight).
PLACES: dict[str, tuple[tuple[str, str, float], ...]] = {
    "华东": (
        ("上海", "上海", 10),
        ("江苏", "苏州", 8),
        ("江苏", "南京", 5),
        ("江苏", "无锡", 4),
        ("江苏", "常州", 3),
        ("江苏", "南通", 2),
        ("浙江", "杭州", 7),
        ("浙江", "宁波", 5),
        ("浙江", "温州", 2),
        ("浙江", "嘉兴", 2),
        ("浙江", "绍兴", 2),
        ("安徽", "合肥", 4),
        ("安徽", "芜湖", 1.5),
        ("山东", "青岛", 4),
        ("山东", "济南", 3),
        ("山东", "烟台", 2),
        ("福建", "厦门", 3),
        ("福建", "福州", 2),
        ("福建", "泉州", 2),
        ("江西", "南昌", 1.5),
    ),
    "华南": (
        ("广东", "深圳", 10),
        ("广东", "广州", 8),
        ("广东", "东莞", 6),
        ("广东", "佛山", 5),
        ("广东", "珠海", 2),
        ("广东", "中山", 2),
        ("广东", "惠州", 2),
        ("广西", "南宁", 1.5),
        ("广西", "柳州", 1.5),
        ("海南", "海口", 0.8),
        ("湖南", "长沙", 4),
        ("湖北", "武汉", 5),
    ),
    "华北": (
        ("北京", "北京", 9),
        ("天津", "天津", 5),
        ("河北", "石家庄", 2),
        ("河北", "唐山", 2),
        ("河北", "保定", 1.5),
        ("山西", "太原", 1.5),
        ("内蒙古", "呼和浩特", 1),
        ("河南", "郑州", 4),
        ("辽宁", "沈阳", 3),
        ("辽宁", "大连", 3),
        ("吉林", "长春", 2),
        ("黑龙江", "哈尔滨", 1.5),
    ),
    "西部": (
        ("四川", "成都", 8),
        ("四川", "绵阳", 1.5),
        ("重庆", "重庆", 6),
        ("陕西", "西安", 5),
        ("云南", "昆明", 2),
        ("贵州", "贵阳", 1.5),
        ("甘肃", "兰州", 1),
        ("宁夏", "银川", 0.6),
        ("新疆", "乌鲁木齐", 1),
    ),
}

CONTACT_TITLES: tuple[tuple[str, float], ...] = (
    ("采购经理", 0.18),
    ("采购专员", 0.12),
    ("设备部经理", 0.12),
    ("技术总监", 0.10),
    ("生产总监", 0.08),
    ("工程师", 0.14),
    ("总经理", 0.06),
    ("副总经理", 0.05),
    ("财务经理", 0.05),
    ("IT经理", 0.05),
    ("项目经理", 0.05),
)

PUBLIC_MAIL_DOMAINS: tuple[str, ...] = ("qq.com", "163.com", "126.com", "139.com", "sina.com")
MOBILE_PREFIXES: tuple[str, ...] = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "158",
    "159",
    "166",
    "173",
    "177",
    "180",
    "181",
    "182",
    "185",
    "186",
    "187",
    "188",
    "189",
    "199",
)
DOMAIN_TLDS: tuple[tuple[str, float], ...] = (("com", 0.55), ("com.cn", 0.35), ("cn", 0.10))


def _weights(n: int, decay: float = 0.035) -> np.ndarray:
    w = np.exp(-decay * np.arange(n))
    return w / w.sum()


_SURNAME = np.array([s for s, _ in SURNAMES], dtype=object)
_SURNAME_PY = np.array([p for _, p in SURNAMES], dtype=object)
_SURNAME_W = _weights(len(SURNAMES))
_GIVEN = np.array([c for c, _ in GIVEN_CHARS], dtype=object)
_GIVEN_PY = np.array([p for _, p in GIVEN_CHARS], dtype=object)
_BRAND = np.array([c for c, _ in BRAND_CHARS], dtype=object)
_BRAND_PY = np.array([p for _, p in BRAND_CHARS], dtype=object)


def person_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full names with the pinyin of the given name and of the surname (one or two given characters)."""
    s = rng.choice(len(_SURNAME), size=n, p=_SURNAME_W)
    g1 = rng.integers(0, len(_GIVEN), size=n)
    g2 = rng.integers(0, len(_GIVEN), size=n)
    two = rng.random(n) < 0.7
    empty = np.full(n, "", dtype=object)
    given = _GIVEN[g1] + np.where(two, _GIVEN[g2], empty)
    given_py = _GIVEN_PY[g1] + np.where(two, _GIVEN_PY[g2], empty)
    return _SURNAME[s] + given, given_py, _SURNAME_PY[s]


def places(rng: np.random.Generator, region_names: list[str], region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Province and city for each row's region code."""
    province = np.empty(len(region), dtype=object)
    city = np.empty(len(region), dtype=object)
    for code, name in enumerate(region_names):
        rows = np.flatnonzero(region == code)
        table = PLACES[name]
        w = np.array([t[2] for t in table], dtype=float)
        pick = rng.choice(len(table), size=len(rows), p=w / w.sum())
        province[rows] = np.array([t[0] for t in table], dtype=object)[pick]
        city[rows] = np.array([t[1] for t in table], dtype=object)[pick]
    return province, city


def company_names(
    rng: np.random.Generator, city: np.ndarray, industry_names: list[str], industry: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Company names (city + brand + industry word + suffix) and an email domain for each."""
    n = len(city)
    b1 = rng.integers(0, len(_BRAND), size=n)
    b2 = rng.integers(0, len(_BRAND), size=n)
    b2 = np.where(b2 == b1, (b2 + 1) % len(_BRAND), b2)
    words = np.empty(n, dtype=object)
    for code, name in enumerate(industry_names):
        rows = np.flatnonzero(industry == code)
        options = np.array(INDUSTRY_WORDS[name], dtype=object)
        words[rows] = options[rng.integers(0, len(options), size=len(rows))]
    suffixes = np.array([s for s, _ in COMPANY_SUFFIXES], dtype=object)
    sw = np.array([w for _, w in COMPANY_SUFFIXES])
    suffix = suffixes[rng.choice(len(suffixes), size=n, p=sw / sw.sum())]
    names = city + _BRAND[b1] + _BRAND[b2] + words + suffix
    tlds = np.array([t for t, _ in DOMAIN_TLDS], dtype=object)
    tw = np.array([w for _, w in DOMAIN_TLDS])
    tld = tlds[rng.choice(len(tlds), size=n, p=tw / tw.sum())]
    domain = _BRAND_PY[b1] + _BRAND_PY[b2] + "." + tld
    return names, domain


def _distinct(values: np.ndarray) -> np.ndarray:
    """Append 2, 3, ... to repeated values so that every value is unique (first occurrence unchanged)."""
    s = pd.Series(values, dtype=object)
    nth = s.groupby(s).cumcount().to_numpy()
    suffix = np.where(nth > 0, (nth + 1).astype(str).astype(object), "")
    return values + suffix


def emails(given_py: np.ndarray, surname_py: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """given.surname@domain, made unique by a digit where two people would share an address."""
    local = _distinct(given_py + "." + surname_py + "@" + domain)
    return local


def public_emails(rng: np.random.Generator, given_py: np.ndarray, surname_py: np.ndarray) -> np.ndarray:
    """Private mailbox addresses (qq.com, 163.com, ...)."""
    n = len(given_py)
    digits = rng.integers(10, 9999, size=n).astype(str).astype(object)
    dom = np.array(PUBLIC_MAIL_DOMAINS, dtype=object)[rng.integers(0, len(PUBLIC_MAIL_DOMAINS), size=n)]
    return _distinct(surname_py + given_py + digits + "@" + dom)


def mobile_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """Mainland mobile numbers such as 13812345678."""
    prefix = np.array(MOBILE_PREFIXES, dtype=object)[rng.integers(0, len(MOBILE_PREFIXES), size=n)]
    rest = rng.integers(0, 100_000_000, size=n)
    return prefix + np.char.zfill(rest.astype(str), 8).astype(object)


def titles(rng: np.random.Generator, n: int) -> np.ndarray:
    names = np.array([t for t, _ in CONTACT_TITLES], dtype=object)
    w = np.array([p for _, p in CONTACT_TITLES])
    return names[rng.choice(len(names), size=n, p=w / w.sum())]
