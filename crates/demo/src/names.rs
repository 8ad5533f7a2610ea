//! Name tables: people, departments, devices. All static, all plain data.

use crate::rng::Rng;

const CN_SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
    "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田",
    "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚", "卢",
    "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏", "付", "方", "白", "邹", "孟",
    "熊", "秦", "邱", "江", "尹", "薛", "段", "雷", "侯", "龙", "史", "欧阳", "司马", "上官",
];

const CN_GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀英", "霞", "平", "刚", "桂英", "华", "飞", "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "旭", "宁",
    "龙", "林", "欣", "瑶", "婷", "雪", "琳", "晨", "怡", "佳", "子涵", "梓轩", "一诺", "欣怡", "浩然",
    "宇轩", "思远", "雨桐", "若曦", "嘉怡", "子墨", "晓东", "建国", "志强", "海燕", "丹丹", "文博", "思琪",
    "俊杰", "晓明", "佳怡", "天佑", "诗涵", "明轩", "雅琪", "鹏",
];

const EN_FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Daniel",
    "Karen",
    "Matthew",
    "Emily",
    "Anthony",
    "Olivia",
    "Mark",
    "Sophia",
    "Kevin",
    "Grace",
    "Ryan",
    "Chloe",
    "Ethan",
    "Hannah",
    "Lucas",
    "Mia",
    "Noah",
    "Ava",
    "Liam",
    "Isabella",
    "Oliver",
    "Charlotte",
];

const EN_LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
    "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
    "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Carter", "Mitchell",
    "Roberts", "Turner", "Phillips", "Campbell", "Parker",
];

/// Romanised Chinese names as written in Singapore ("Tan Wei Ming").
const SG_SURNAMES: &[&str] = &[
    "Tan", "Lim", "Lee", "Ng", "Ong", "Wong", "Goh", "Chua", "Chan", "Koh", "Teo", "Ang", "Yeo", "Tay", "Ho",
    "Low", "Toh", "Sim", "Chong", "Chia",
];
const SG_GIVEN: &[&str] = &[
    "Wei Ming",
    "Hui Min",
    "Jia Hui",
    "Kai Xiang",
    "Xin Yi",
    "Jun Jie",
    "Li Ting",
    "Zhi Hao",
    "Shu Fen",
    "Wei Jie",
    "Mei Ling",
    "Yong Sheng",
    "Pei Shan",
    "Jing Wen",
];
const SG_OTHER: &[&str] = &[
    "Nur Aisyah binte Rahman",
    "Muhammad Hafiz",
    "Siti Nurhaliza",
    "Ahmad Faizal",
    "Priya Raman",
    "Arjun Nair",
    "Kavitha Subramaniam",
    "Rajesh Kumar",
    "Farah Hassan",
    "Nguyen Thi Lan",
    "Somchai Srisuk",
    "Maria Santos",
];

/// Names that exercise quoting downstream (CSV, JSON, shells): with a comma...
const WITH_COMMA: &[&str] =
    &["Smith, John", "O'Connor, Siobhán", "van der Berg, Pieter", "Müller, Jürgen", "陈, 小明"];
/// ...or with a double quote.
const WITH_QUOTE: &[&str] =
    &["Anne \"Annie\" Lee", "李 \"Leo\" 明", "Robert \"Bob\" Tables", "Zoë \"Z\" D'Souza"];

/// Whether a name must be one of the quoting-hostile ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tricky {
    No,
    Comma,
    Quote,
}

/// A person's display name.
pub(crate) fn person(rng: &mut Rng, sg: bool, tricky: Tricky) -> String {
    match tricky {
        Tricky::Comma => return (*rng.pick(WITH_COMMA)).to_owned(),
        Tricky::Quote => return (*rng.pick(WITH_QUOTE)).to_owned(),
        Tricky::No => {}
    }
    let r = rng.unit();
    let english = |rng: &mut Rng| format!("{} {}", rng.pick(EN_FIRST), rng.pick(EN_LAST));
    let chinese = |rng: &mut Rng| format!("{}{}", rng.pick(CN_SURNAMES), rng.pick(CN_GIVEN));
    if !sg {
        if r < 0.86 {
            chinese(rng)
        } else if r < 0.96 {
            english(rng)
        } else {
            // An English name next to a Chinese one, as many people use at work.
            format!("{} {}{}", rng.pick(EN_FIRST), rng.pick(CN_SURNAMES), rng.pick(CN_GIVEN))
        }
    } else if r < 0.45 {
        english(rng)
    } else if r < 0.75 {
        format!("{} {}", rng.pick(SG_SURNAMES), rng.pick(SG_GIVEN))
    } else if r < 0.88 {
        chinese(rng)
    } else {
        (*rng.pick(SG_OTHER)).to_owned()
    }
}

/// How a division's people use the suite, as multipliers of the base rates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Profile {
    pub(crate) im: f64,
    pub(crate) docs: f64,
    pub(crate) cal: f64,
    pub(crate) vc: f64,
    pub(crate) task: f64,
    pub(crate) email: f64,
    pub(crate) search: f64,
    /// Share of email that is external.
    pub(crate) external: f64,
}

impl Profile {
    const fn new(v: [f64; 8]) -> Self {
        Profile {
            im: v[0],
            docs: v[1],
            cal: v[2],
            vc: v[3],
            task: v[4],
            email: v[5],
            search: v[6],
            external: v[7],
        }
    }

    /// Every factor scaled by its own uniform jitter in `[lo, hi)`.
    pub(crate) fn jitter(&self, rng: &mut Rng, lo: f64, hi: f64) -> Self {
        Profile {
            im: self.im * rng.uniform(lo, hi),
            docs: self.docs * rng.uniform(lo, hi),
            cal: self.cal * rng.uniform(lo, hi),
            vc: self.vc * rng.uniform(lo, hi),
            task: self.task * rng.uniform(lo, hi),
            email: self.email * rng.uniform(lo, hi),
            search: self.search * rng.uniform(lo, hi),
            external: self.external,
        }
    }
}

//                                      im   docs  cal   vc   task email search ext
const ENGINEERING: Profile = Profile::new([1.1, 1.6, 0.7, 0.8, 1.8, 0.4, 1.6, 0.1]);
const PRODUCT: Profile = Profile::new([1.0, 2.0, 1.1, 1.1, 1.2, 0.6, 1.2, 0.2]);
const SALES: Profile = Profile::new([1.2, 0.5, 1.4, 2.0, 0.5, 1.8, 0.7, 0.7]);
const MARKETING: Profile = Profile::new([1.0, 1.4, 1.0, 1.0, 0.8, 1.3, 0.9, 0.5]);
const SUPPORT: Profile = Profile::new([1.8, 0.7, 0.6, 0.9, 1.0, 1.2, 1.3, 0.6]);
const PEOPLE: Profile = Profile::new([0.9, 0.9, 1.9, 1.4, 0.7, 1.2, 0.6, 0.4]);
const FINANCE: Profile = Profile::new([0.7, 1.2, 0.8, 0.6, 0.6, 1.9, 0.6, 0.3]);
const ADMIN: Profile = Profile::new([1.0, 0.6, 0.9, 0.6, 0.9, 1.0, 0.5, 0.3]);

/// A level-1 department and what grows under it.
pub(crate) struct Division {
    pub(crate) name: &'static str,
    /// Relative head count.
    pub(crate) weight: u32,
    pub(crate) profile: Profile,
    /// Level-2 departments.
    pub(crate) groups: &'static [&'static str],
    /// Names for level-3 teams (cycled, numbered when exhausted).
    pub(crate) teams: &'static [&'static str],
    /// The division the sub-tree-scoped demo app may see.
    pub(crate) scoped_app: bool,
    /// Share of desktop users on macOS / Linux (out of 100; rest Windows).
    pub(crate) mac: u32,
    pub(crate) linux: u32,
}

pub(crate) const CN_DIVISIONS: &[Division] = &[
    Division {
        name: "研发中心",
        weight: 34,
        profile: ENGINEERING,
        groups: &["平台组", "Infrastructure", "移动端", "数据平台", "AI Lab"],
        teams: &[
            "核心服务",
            "存储",
            "网关",
            "SRE",
            "Backend",
            "Frontend",
            "iOS",
            "Android",
            "质量保障",
            "效能工具",
            "搜索推荐",
            "安全",
        ],
        scoped_app: false,
        mac: 55,
        linux: 15,
    },
    Division {
        name: "产品与设计",
        weight: 9,
        profile: PRODUCT,
        groups: &["产品规划", "用户体验", "Design System"],
        teams: &["交互设计", "视觉设计", "用户研究", "Growth", "商业化产品", "协作产品"],
        scoped_app: false,
        mac: 70,
        linux: 0,
    },
    Division {
        name: "销售部",
        weight: 18,
        profile: SALES,
        groups: &["华北大区", "华东大区", "华南大区", "KA 客户部"],
        teams: &["直销一组", "直销二组", "渠道组", "售前支持", "Inside Sales", "商务拓展"],
        scoped_app: true,
        mac: 20,
        linux: 0,
    },
    Division {
        name: "市场部",
        weight: 7,
        profile: MARKETING,
        groups: &["品牌", "Growth Marketing", "公关"],
        teams: &["内容运营", "活动策划", "Social Media", "市场分析"],
        scoped_app: false,
        mac: 45,
        linux: 0,
    },
    Division {
        name: "客户成功部",
        weight: 12,
        profile: SUPPORT,
        groups: &["客户支持", "实施交付", "Customer Success"],
        teams: &["一线支持", "二线支持", "培训", "Onboarding", "续约"],
        scoped_app: false,
        mac: 15,
        linux: 2,
    },
    Division {
        name: "人力资源部",
        weight: 6,
        profile: PEOPLE,
        groups: &["招聘", "HRBP", "薪酬福利"],
        teams: &["校园招聘", "社会招聘", "员工关系", "培训发展"],
        scoped_app: false,
        mac: 25,
        linux: 0,
    },
    Division {
        name: "财务部",
        weight: 6,
        profile: FINANCE,
        groups: &["会计", "FP&A", "税务"],
        teams: &["应收", "应付", "预算", "审计"],
        scoped_app: false,
        mac: 10,
        linux: 0,
    },
    Division {
        name: "行政与法务",
        weight: 5,
        profile: ADMIN,
        groups: &["行政", "法务", "IT 支持"],
        teams: &["采购", "前台", "合同管理", "IT Helpdesk"],
        scoped_app: false,
        mac: 15,
        linux: 10,
    },
];

pub(crate) const SG_DIVISIONS: &[Division] = &[
    Division {
        name: "Engineering",
        weight: 30,
        profile: ENGINEERING,
        groups: &["Platform", "Mobile", "Data 数据组"],
        teams: &["Core Services", "Storage", "SRE", "iOS", "Android", "QA", "Tooling"],
        scoped_app: false,
        mac: 60,
        linux: 15,
    },
    Division {
        name: "Sales & Partnerships",
        weight: 28,
        profile: SALES,
        groups: &["APAC Enterprise", "SMB", "Partnerships"],
        teams: &["Hunters", "Account Management", "Pre-sales", "Channel"],
        scoped_app: true,
        mac: 40,
        linux: 0,
    },
    Division {
        name: "Customer Success",
        weight: 20,
        profile: SUPPORT,
        groups: &["Support", "Onboarding"],
        teams: &["Tier 1", "Tier 2", "Implementation", "Training"],
        scoped_app: false,
        mac: 30,
        linux: 0,
    },
    Division {
        name: "Marketing",
        weight: 10,
        profile: MARKETING,
        groups: &["Brand", "Growth"],
        teams: &["Content", "Events", "Performance"],
        scoped_app: false,
        mac: 50,
        linux: 0,
    },
    Division {
        name: "Operations",
        weight: 12,
        profile: FINANCE,
        groups: &["People", "Finance", "Legal"],
        teams: &["Recruiting", "Payroll", "Contracts", "Office"],
        scoped_app: false,
        mac: 35,
        linux: 0,
    },
];

/// Level-4 squads (by site) under some teams.
pub(crate) const CN_SITES: &[&str] = &["北京", "上海", "深圳", "杭州", "成都"];
pub(crate) const SG_SITES: &[&str] = &["Singapore", "Jakarta", "Kuala Lumpur", "Bangkok"];

/// Client versions, oldest first; the last is the current release.
pub(crate) const FEISHU_CLIENTS: &[&str] = &[
    "feishu 7.12.3",
    "feishu 7.15.9",
    "feishu 7.18.5",
    "feishu 7.20.4",
    "feishu 7.23.6",
    "feishu 7.26.2",
    "feishu 7.29.5",
    "feishu 7.31.8",
];
/// Same releases under the Lark brand.
pub(crate) const LARK_CLIENTS: &[&str] = &[
    "lark 7.12.3",
    "lark 7.15.9",
    "lark 7.18.5",
    "lark 7.20.4",
    "lark 7.23.6",
    "lark 7.26.2",
    "lark 7.29.5",
    "lark 7.31.8",
];
/// Relative popularity of each client version (newer is commoner).
pub(crate) const CLIENT_WEIGHTS: &[u32] = &[2, 3, 4, 6, 9, 14, 22, 40];

pub(crate) const IOS: &[&str] =
    &["ios 16.7.8", "ios 17.4", "ios 17.5.1", "ios 17.6.1", "ios 18.0.1", "ios 18.1", "ios 18.2"];
pub(crate) const ANDROID: &[&str] = &["android 12", "android 13", "android 14", "android 15"];
/// Many Chinese phones report HarmonyOS on the Android client.
pub(crate) const HARMONY: &[&str] = &["harmonyos 4.2", "harmonyos 4.3"];
pub(crate) const WINDOWS: &[&str] = &["Windows 10", "Windows 11", "Windows 11"];
pub(crate) const MACOS: &[&str] = &["macos 13.6", "macos 14.5", "macos 14.7", "macos 15.1", "macos 15.2"];
pub(crate) const LINUX: &[&str] = &["linux 5.15", "linux 6.5", "linux 6.8"];
pub(crate) const BROWSERS: &[&str] = &["chrome 131", "chrome 130", "edge 131", "safari 18.1", "firefox 133"];
