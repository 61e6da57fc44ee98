"""Fixed vocabularies of the synthetic bank: cities, names, product shelf.

Kept as plain tuples so every chunk (and every process) indexes the same lists: the
generator draws integer codes and looks strings up here, which is what makes string
columns cheap (Arrow ``take``) and deterministic.
"""

from __future__ import annotations

# (city, pinyin, English, ID-card area code of a central district, relative size)
CITIES: tuple[tuple[str, str, str, int, float], ...] = (
    ("北京", "beijing", "Beijing", 110105, 10.0),
    ("上海", "shanghai", "Shanghai", 310115, 10.0),
    ("深圳", "shenzhen", "Shenzhen", 440304, 8.0),
    ("广州", "guangzhou", "Guangzhou", 440106, 7.0),
    ("杭州", "hangzhou", "Hangzhou", 330106, 5.0),
    ("成都", "chengdu", "Chengdu", 510107, 5.0),
    ("南京", "nanjing", "Nanjing", 320106, 4.5),
    ("苏州", "suzhou", "Suzhou", 320505, 4.5),
    ("武汉", "wuhan", "Wuhan", 420106, 4.0),
    ("重庆", "chongqing", "Chongqing", 500103, 4.0),
    ("天津", "tianjin", "Tianjin", 120103, 3.5),
    ("西安", "xian", "Xi'an", 610113, 3.0),
    ("长沙", "changsha", "Changsha", 430104, 3.0),
    ("宁波", "ningbo", "Ningbo", 330212, 3.0),
    ("郑州", "zhengzhou", "Zhengzhou", 410105, 2.5),
    ("青岛", "qingdao", "Qingdao", 370212, 2.5),
    ("厦门", "xiamen", "Xiamen", 350206, 2.5),
    ("合肥", "hefei", "Hefei", 340104, 2.0),
    ("济南", "jinan", "Jinan", 370102, 2.0),
    ("福州", "fuzhou", "Fuzhou", 350102, 2.0),
    ("无锡", "wuxi", "Wuxi", 320213, 2.0),
    ("东莞", "dongguan", "Dongguan", 441900, 2.0),
    ("佛山", "foshan", "Foshan", 440604, 2.0),
    ("沈阳", "shenyang", "Shenyang", 210103, 1.5),
    ("大连", "dalian", "Dalian", 210202, 1.5),
    ("昆明", "kunming", "Kunming", 530102, 1.5),
    ("南昌", "nanchang", "Nanchang", 360102, 1.2),
    ("石家庄", "shijiazhuang", "Shijiazhuang", 130102, 1.2),
    ("南宁", "nanning", "Nanning", 450103, 1.0),
    ("哈尔滨", "haerbin", "Harbin", 230103, 1.0),
)

# Sub-branch names are "<city><place>支行".
PLACES: tuple[tuple[str, str], ...] = (
    ("人民路", "Renmin Road"),
    ("中山路", "Zhongshan Road"),
    ("解放路", "Jiefang Road"),
    ("建设路", "Jianshe Road"),
    ("和平路", "Heping Road"),
    ("新华路", "Xinhua Road"),
    ("长江路", "Changjiang Road"),
    ("高新区", "Hi-tech Zone"),
    ("开发区", "Development Zone"),
    ("滨江", "Binjiang"),
    ("金融街", "Financial Street"),
    ("科技园", "Science Park"),
    ("东城", "Dongcheng"),
    ("西城", "Xicheng"),
    ("南湖", "Nanhu"),
    ("北辰", "Beichen"),
    ("湖滨", "Hubin"),
    ("世纪大道", "Century Avenue"),
)

# (surname, pinyin, relative frequency) — the commonest Chinese surnames, plus two
# compound ones so masking is exercised on names longer than three characters.
SURNAMES: tuple[tuple[str, str, float], ...] = (
    ("王", "wang", 7.1), ("李", "li", 7.0), ("张", "zhang", 6.7), ("刘", "liu", 5.4),
    ("陈", "chen", 4.5), ("杨", "yang", 3.1), ("黄", "huang", 2.2), ("赵", "zhao", 2.0),
    ("吴", "wu", 2.0), ("周", "zhou", 1.9), ("徐", "xu", 1.3), ("孙", "sun", 1.2),
    ("马", "ma", 1.1), ("朱", "zhu", 1.1), ("胡", "hu", 1.0), ("郭", "guo", 1.0),
    ("何", "he", 0.9), ("高", "gao", 0.9), ("林", "lin", 0.9), ("罗", "luo", 0.8),
    ("郑", "zheng", 0.8), ("梁", "liang", 0.7), ("谢", "xie", 0.6), ("宋", "song", 0.6),
    ("唐", "tang", 0.6), ("许", "xu", 0.5), ("韩", "han", 0.5), ("冯", "feng", 0.5),
    ("邓", "deng", 0.5), ("曹", "cao", 0.5), ("彭", "peng", 0.5), ("曾", "zeng", 0.5),
    ("肖", "xiao", 0.4), ("田", "tian", 0.4), ("董", "dong", 0.4), ("袁", "yuan", 0.4),
    ("潘", "pan", 0.4), ("于", "yu", 0.4), ("蒋", "jiang", 0.4), ("蔡", "cai", 0.4),
    ("余", "yu", 0.3), ("杜", "du", 0.3), ("叶", "ye", 0.3), ("程", "cheng", 0.3),
    ("苏", "su", 0.3), ("魏", "wei", 0.3), ("吕", "lv", 0.3), ("丁", "ding", 0.3),
    ("任", "ren", 0.3), ("沈", "shen", 0.3), ("欧阳", "ouyang", 0.05), ("司马", "sima", 0.02),
)  # fmt: skip

# Given-name characters (character, pinyin), split by the gender they are usual for.
GIVEN_M: tuple[tuple[str, str], ...] = (
    ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
    ("勇", "yong"), ("杰", "jie"), ("涛", "tao"), ("明", "ming"), ("超", "chao"),
    ("刚", "gang"), ("平", "ping"), ("辉", "hui"), ("鹏", "peng"), ("华", "hua"),
    ("建", "jian"), ("浩", "hao"), ("宇", "yu"), ("轩", "xuan"), ("博", "bo"),
    ("俊", "jun"), ("斌", "bin"), ("海", "hai"), ("波", "bo"), ("志", "zhi"),
    ("国", "guo"), ("文", "wen"), ("晨", "chen"), ("睿", "rui"), ("鑫", "xin"),
)  # fmt: skip
GIVEN_F: tuple[tuple[str, str], ...] = (
    ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("艳", "yan"), ("娟", "juan"), ("秀", "xiu"), ("霞", "xia"), ("英", "ying"),
    ("玲", "ling"), ("欣", "xin"), ("涵", "han"), ("婷", "ting"), ("雪", "xue"),
    ("琳", "lin"), ("怡", "yi"), ("佳", "jia"), ("思", "si"), ("雨", "yu"),
    ("梅", "mei"), ("兰", "lan"), ("红", "hong"), ("倩", "qian"), ("颖", "ying"),
    ("慧", "hui"), ("萍", "ping"), ("燕", "yan"), ("晓", "xiao"), ("悦", "yue"),
)  # fmt: skip

MAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("qq.com", 0.38), ("163.com", 0.22), ("126.com", 0.1), ("sina.com", 0.05),
    ("outlook.com", 0.08), ("gmail.com", 0.07), ("foxmail.com", 0.05), ("139.com", 0.05),
)  # fmt: skip

# Mobile prefixes in use (China Mobile, Unicom, Telecom): 1[3-9]x.
MOBILE_PREFIXES: tuple[int, ...] = (
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 145, 147, 150, 151, 152, 153, 155,
    156, 157, 158, 159, 166, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186,
    187, 188, 189, 191, 193, 195, 198, 199,
)  # fmt: skip

OCCUPATIONS: tuple[str, ...] = (
    "employee", "civil_servant", "professional", "self_employed", "business_owner",
    "worker", "farmer", "student", "retired", "unemployed",
)  # fmt: skip
EDUCATIONS: tuple[str, ...] = ("middle_school", "high_school", "college", "bachelor", "master_plus")
MARITAL: tuple[str, ...] = ("single", "married", "divorced", "unknown")
ACQ_CHANNELS: tuple[str, ...] = ("branch", "app", "web", "referral", "partner")

# (product_id, category, name, name_en, risk, annual_rate, min_amount)
PRODUCTS: tuple[tuple[str, str, str, str, int, float, float], ...] = (
    ("DEP-DEMAND", "deposit", "活期存款", "Demand deposit", 1, 0.0015, 0.0),
    ("DEP-TIME-3M", "deposit", "三个月定期存款", "3-month time deposit", 1, 0.0125, 50.0),
    ("DEP-TIME-1Y", "deposit", "一年定期存款", "1-year time deposit", 1, 0.0155, 50.0),
    ("DEP-TIME-3Y", "deposit", "三年定期存款", "3-year time deposit", 1, 0.0195, 50.0),
    ("DEP-LARGE-CD", "deposit", "大额存单", "Large certificate of deposit", 1, 0.0215, 2e5),
    ("WM-CASH", "wealth", "天天利现金管理", "Daily cash management", 1, 0.021, 1.0),
    ("WM-FIXED-6M", "wealth", "稳健固收6个月", "Fixed income 6M", 2, 0.029, 1e4),
    ("WM-PLUS-1Y", "wealth", "固收+一年持有", "Fixed income plus 1Y", 3, 0.035, 1e4),
    ("FND-MMF", "fund", "货币市场基金", "Money market fund", 1, 0.018, 1.0),
    ("FND-BOND", "fund", "纯债债券基金", "Pure bond fund", 2, 0.032, 10.0),
    ("FND-BALANCED", "fund", "平衡混合基金", "Balanced hybrid fund", 3, 0.05, 10.0),
    ("FND-INDEX300", "fund", "沪深300指数基金", "CSI 300 index fund", 4, 0.06, 10.0),
    ("FND-GROWTH", "fund", "成长精选股票基金", "Growth equity fund", 5, 0.08, 10.0),
    ("FND-QDII", "fund", "全球科技QDII基金", "Global tech QDII fund", 5, 0.07, 100.0),
    ("LN-MORTGAGE", "loan", "个人住房贷款", "Home mortgage", 2, 0.0395, 1e5),
    ("LN-CONSUMER", "loan", "快e贷消费贷款", "Consumer loan", 3, 0.045, 1e3),
    ("LN-BUSINESS", "loan", "个人经营贷款", "Small business loan", 3, 0.0385, 5e4),
    ("CARD-DEBIT", "card", "借记卡", "Debit card", 1, 0.0, 0.0),
    ("CARD-CREDIT", "card", "标准信用卡", "Credit card", 2, 0.18, 0.0),
    ("CARD-PLATINUM", "card", "白金信用卡", "Platinum credit card", 2, 0.18, 0.0),
    ("INS-HEALTH", "insurance", "百万医疗险", "Medical insurance", 1, 0.0, 300.0),
    ("INS-LIFE", "insurance", "终身寿险", "Whole life insurance", 2, 0.03, 1e4),
    ("INS-ANNUITY", "insurance", "养老年金险", "Pension annuity", 2, 0.035, 1e4),
)
PRODUCT_INDEX: dict[str, int] = {p[0]: i for i, p in enumerate(PRODUCTS)}

STAGES: tuple[str, ...] = ("new", "growing", "mature", "declining", "dormant", "churned")
CHANNELS: tuple[str, ...] = ("sms", "push", "email", "wechat", "call", "rm")
PLATFORMS: tuple[str, ...] = ("android", "ios", "miniprogram", "web")
