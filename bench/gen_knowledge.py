"""Generate realistic synthetic Chinese knowledge entries (政策问答) for benchmarks.

``python bench/gen_knowledge.py --entries 100000 --out /tmp/kb.jsonl`` writes JSON
Lines; ``--database-url sqlite:///…`` loads them straight into a server database
(migrated and demo-seeded first), with one change-log row per entry as
``server.changes.record`` would write it, so that clients pull them.

Entries are deterministic for a given seed. They are built from templates of the
questions people ask at a service hall and the shape of real answers (legal basis,
conditions, materials with form and count, steps, time limits, fees, where to go),
with varied lengths (about 1.6 KB of JSON on average), dates, kinds, departments and
matters, and a share of expired policies.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Topic:
    department: str
    dept_code: str
    area: str
    subject: str
    actions: tuple[str, ...]
    laws: tuple[str, ...]
    materials: tuple[str, ...]
    money: bool = False


def _topics(table: str) -> tuple[Topic, ...]:
    """Read the table below: a line ``department code area subject [money]`` and three
    indented lines of actions, laws and materials."""
    lines = table.strip().splitlines()
    topics = []
    for i in range(0, len(lines), 4):
        head, actions, laws, materials = lines[i : i + 4]
        dept, code, area, subject, *money = head.split()
        topics.append(
            Topic(
                dept,
                code,
                area,
                subject,
                tuple(actions.split()),
                tuple(laws.split()),
                tuple(materials.split()),
                money == ["money"],
            )
        )
    return tuple(topics)


TOPICS = _topics(
    """
人力资源和社会保障局 RS 社会保障卡 社保卡
    申领 补办 挂失 换领 激活 信息变更 注销 解挂
    《社会保险法》 《社会保障卡管理办法》
    居民身份证 近期免冠照片 户口簿 监护人身份证 授权委托书
人力资源和社会保障局 RS 养老保险 职工养老保险 money
    参保登记 转移接续 补缴 退休申请 待遇领取 停保
    《社会保险法》 《国务院关于建立统一的企业职工基本养老保险制度的决定》
    居民身份证 社会保障卡 参保缴费凭证 档案材料 退休审批表
人力资源和社会保障局 RS 失业保险 失业保险金 money
    申领 停发 查询 转移
    《社会保险法》 《失业保险条例》
    居民身份证 社会保障卡 解除劳动合同证明 银行卡
人力资源和社会保障局 RS 灵活就业 灵活就业人员社保 money
    参保登记 缴费 停保 补缴 基数调整
    《社会保险法》 《江宁市灵活就业人员参加社会保险办法》
    居民身份证 社会保障卡 银行卡 就业困难人员认定证明
人力资源和社会保障局 RS 就业创业 创业担保贷款 money
    申请 贴息 展期 还款
    《就业促进法》 《创业担保贷款实施细则》
    居民身份证 营业执照 创业计划书 担保材料 银行流水
人力资源和社会保障局 RS 职业技能 职业技能补贴 money
    申领 查询 认定
    《职业技能提升行动方案》 《职业技能培训补贴管理办法》
    居民身份证 职业资格证书 培训合格证明 银行卡
人力资源和社会保障局 RS 工伤保险 工伤认定 money
    申请 复核 待遇申领 劳动能力鉴定
    《工伤保险条例》 《工伤认定办法》
    工伤认定申请表 劳动合同 医疗诊断证明 事故调查报告 居民身份证
医疗保障局 YB 医疗保险 城乡居民医保 money
    参保 缴费 报销 停保 变更
    《社会保险法》 《医疗保障基金使用监督管理条例》
    居民身份证 户口簿 医保电子凭证 出生医学证明
医疗保障局 YB 异地就医 异地就医备案
    办理 取消 变更 延期
    《关于进一步做好基本医疗保险跨省异地就医直接结算工作的通知》
    居民身份证 社会保障卡 异地居住证明 转诊证明
医疗保障局 YB 门诊慢特病 门诊慢特病待遇 money
    认定 复审 报销 变更定点
    《江宁市门诊慢特病管理办法》
    居民身份证 社会保障卡 病历资料 检查报告 诊断证明
医疗保障局 YB 生育保险 生育津贴 money
    申领 查询 补发
    《社会保险法》 《江宁市职工生育保险规定》
    居民身份证 出生医学证明 结婚证 银行卡 住院病历
住房公积金管理中心 GJJ 住房公积金 住房公积金 money
    提取 转移 封存 启封 销户 补缴 查询
    《住房公积金管理条例》 《江宁市住房公积金提取管理办法》
    居民身份证 银行卡 租赁合同 购房合同 不动产权证书 婚姻关系证明
住房公积金管理中心 GJJ 公积金贷款 公积金贷款 money
    申请 提前还款 变更还款方式 结清 冲还贷
    《住房公积金管理条例》 《江宁市住房公积金个人住房贷款管理办法》
    居民身份证 婚姻关系证明 购房合同 收入证明 首付款发票
公安局 GA 户籍管理 居住证
    申领 签注 补领 换领 变更
    《居住证暂行条例》 《江宁市居住证管理办法》
    居民身份证 住所证明 就业证明 就读证明 近期证件照
公安局 GA 户籍管理 户口
    迁入 迁出 投靠 分户 注销 更正
    《户口登记条例》 《江宁市户籍准入管理办法》
    居民户口簿 居民身份证 结婚证 出生医学证明 房屋产权证明 准予迁入证明
公安局 GA 身份证件 居民身份证
    换领 补领 临时身份证申领 异地办理
    《居民身份证法》
    居民户口簿 近期证件照 原居民身份证 报失证明
公安局 GA 出入境 出入境证件
    申领 换发 补发 签注
    《出境入境管理法》 《普通护照和出入境通行证签发管理办法》
    居民身份证 近期证件照 户口簿 原证件 单位意见
公安局 GA 交通管理 机动车驾驶证
    换证 补证 审验 满分学习 转入
    《道路交通安全法》 《机动车驾驶证申领和使用规定》
    居民身份证 驾驶证 身体条件证明 近期证件照
市场监督管理局 SCJG 市场主体 个体工商户营业执照
    办理 变更 注销 补领 年报
    《促进个体工商户发展条例》 《市场主体登记管理条例》
    登记申请书 经营者身份证件 经营场所使用证明 委托书
市场监督管理局 SCJG 市场主体 有限责任公司
    设立登记 变更登记 注销登记 股权变更 迁移
    《公司法》 《市场主体登记管理条例》
    登记申请书 公司章程 股东主体资格证明 住所使用证明 法定代表人任职文件
市场监督管理局 SCJG 食品安全 食品经营许可证
    申请 延续 变更 补办 注销
    《食品安全法》 《食品经营许可和备案管理办法》
    食品经营许可申请书 营业执照 经营场所平面图 食品安全管理制度
税务局 SW 个人所得税 个税年度汇算 money
    办理 更正 退税 补税 申报
    《个人所得税法》 《个人所得税法实施条例》
    居民身份证 银行卡 专项附加扣除资料 收入纳税明细
税务局 SW 发票管理 增值税发票 money
    代开 申领 作废 红冲 查验
    《发票管理办法》 《增值税暂行条例》
    居民身份证 合同协议 付款凭证 营业执照
税务局 SW 房产交易 契税 money
    申报 缴纳 减免 退税
    《契税法》 《江宁市契税具体适用税率等事项的决定》
    居民身份证 购房合同 不动产权证书 婚姻关系证明 家庭住房情况证明
民政局 MZ 婚姻登记 结婚登记
    办理 预约 补领结婚证 撤销
    《婚姻登记条例》 《民法典》
    居民身份证 近期半身免冠合影照片 签字声明
民政局 MZ 婚姻登记 离婚登记
    申请 撤回 补领离婚证
    《婚姻登记条例》 《民法典》
    居民身份证 结婚证 离婚协议书 近期证件照
民政局 MZ 社会救助 最低生活保障 money
    申请 复核 停发 变更
    《社会救助暂行办法》 《江宁市最低生活保障办法》
    低保申请书 居民身份证 户口簿 家庭收入证明 家庭财产申报表
民政局 MZ 养老服务 高龄津贴 money
    申领 停发 查询 代领
    《老年人权益保障法》 《江宁市高龄津贴发放办法》
    居民身份证 户口簿 银行卡 代领人身份证
民政局 MZ 残疾人福利 残疾人两项补贴 money
    申请 复核 停发
    《残疾人保障法》 《关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见》
    残疾人证 居民身份证 户口簿 银行卡
不动产登记中心 BDC 不动产登记 不动产权证书 money
    办理 过户 抵押登记 注销抵押 补证 更正 查询
    《民法典》 《不动产登记暂行条例》
    居民身份证 不动产权证书 买卖合同 完税凭证 抵押合同
教育局 JY 入学报名 义务教育入学
    报名 转学 学籍转移 随迁子女入学
    《义务教育法》 《江宁市义务教育招生入学工作意见》
    户口簿 不动产权证书 居住证 出生医学证明 预防接种证
卫生健康委员会 WJ 出生登记 出生医学证明
    办理 补发 换发 信息变更
    《母婴保健法》 《出生医学证明管理办法》
    父母居民身份证 住院分娩记录 结婚证 新生儿照片
交通运输局 JT 道路运输 网约车驾驶员证
    申请 换证 注销 延续
    《网络预约出租汽车经营服务管理暂行办法》
    居民身份证 机动车驾驶证 无犯罪记录证明 近期证件照
退役军人事务局 TY 优待抚恤 退役军人优待证
    申领 补办 换发
    《退役军人保障法》 《退役军人、其他优抚对象优待证管理办法》
    居民身份证 退役证件 近期证件照 户口簿
残疾人联合会 CL 残疾人证 残疾人证
    申领 换领 补办 迁移 注销
    《残疾人保障法》 《中华人民共和国残疾人证管理办法》
    居民身份证 户口簿 近期证件照 残疾评定表
政务服务管理办公室 ZW 政务服务 帮办代办服务
    预约 申请 评价 投诉
    《优化营商环境条例》 《江宁市政务服务管理办法》
    居民身份证 授权委托书 营业执照
"""
)

REGIONS = (
    "江宁市",
    "鼓楼区",
    "秦淮区",
    "玄武区",
    "建邺区",
    "栖霞区",
    "雨花台区",
    "浦口区",
    "六合区",
    "溧水区",
    "高淳区",
    "江北新区",
    "汤山街道",
    "淳化街道",
    "东山街道",
    "秣陵街道",
    "横溪街道",
    "湖熟街道",
)
PERSONS = (
    "退休人员",
    "灵活就业人员",
    "外地户籍人员",
    "应届高校毕业生",
    "老年人",
    "残疾人",
    "新入职职工",
    "个体经营户",
    "农村居民",
    "军人家属",
    "港澳台居民",
    "外籍人员",
    "未成年人",
    "失业人员",
    "低收入家庭",
    "孕产妇",
    "企业职工",
    "新市民",
    "在校学生",
    "独居老人",
    "返乡创业人员",
    "异地工作人员",
)
TITLE_CORES = (
    "{subject}{action}需要带哪些材料？",
    "{subject}怎么{action}？",
    "{action}{subject}需要什么条件？",
    "{subject}{action}多久能办好？",
    "{subject}{action}要收费吗？",
    "可以在附近{action}{subject}吗？",
    "{subject}{action}能在网上办吗？",
    "{subject}{action}到哪里办？",
    "{subject}可以委托别人{action}吗？",
    "{subject}{action}进度在哪里查？",
    "{subject}{action}被退回了怎么办？",
    "{year}年{subject}{action}有什么新变化？",
    "{subject}{action}的受理时间是什么时候？",
    "{subject}过期了还能{action}吗？",
    "{subject}{action}有哪些优惠政策？",
    "{action}{subject}的流程是什么？",
    "{subject}{action}需要本人到场吗？",
    "{subject}{action}后多久能拿到结果？",
    "没有带齐材料能先{action}{subject}吗？",
    "{subject}{action}常见问题解答",
    "关于{subject}{action}的通知（{year}年）",
    "{action}{subject}要注意什么？",
    "{subject}{action}可以跨省通办吗？",
    "{subject}{action}需要提前预约吗？",
    "{subject}{action}时材料丢了怎么办？",
    "{subject}{action}和以前有什么不同？",
)
MONEY_CORES = (
    "{subject}{action}后多久到账？",
    "{subject}{action}的标准是多少？",
    "{subject}{action}的钱会打到哪张卡上？",
)
FORMS = ("原件", "复印件", "原件及复印件", "电子证照")
PLACES = (
    "江宁市政务服务中心一楼综合受理窗口",
    "江宁市政务服务中心二楼{department}窗口",
    "各区政务服务中心{department}窗口",
    "户籍所在地街道（乡镇）便民服务中心",
    "居住地社区党群服务中心",
    "{region}政务服务中心综合窗口",
)
ONLINE = (
    "“江宁办事”App",
    "江宁市政务服务网",
    "“苏服办”小程序",
    "国家政务服务平台",
    "“江宁{short}”微信公众号",
)
OPENINGS = (
    "根据{law}的规定，{person}{action}{subject}，按以下要求办理。",
    "依照{law}，{subject}{action}实行“一次告知、一窗受理”。",
    "{subject}{action}属于{department}的依申请政务服务事项，{region}范围内均可受理。",
    "为方便群众办事，自{date}起，{subject}{action}可以全程网办，也可以到窗口办理。",
    "{person}{action}{subject}，原则上不需要提供证明材料，能通过数据共享核验的一律免于提交。",
    "{subject}{action}是近期的高频咨询事项，现将办理要求说明如下。",
)
CONDITIONS = (
    "申请人应具有完全民事行为能力，无法亲自办理的可以委托他人代办",
    "在{region}有合法稳定住所，或者已办理居住登记满半年",
    "已在本市连续参保缴费满{n}个月，且当前处于正常缴费状态",
    "所提交材料真实、有效，与信息系统登记的信息一致",
    "未因同一事项在其他地区享受过相同待遇",
    "符合国家和省、市规定的其他条件",
    "本人及配偶在本市范围内无自有住房",
    "年满{age}周岁，或者属于政策规定的特殊群体",
    "家庭人均收入低于本市公布的标准，且家庭财产符合规定",
    "没有未处理完毕的违法违规记录",
)
STEPS = (
    "申请人通过{online}或到窗口提交申请",
    "窗口工作人员核验身份并对材料进行形式审查，材料齐全的当场受理",
    "材料不全的，一次性告知需要补正的全部内容",
    "业务部门在{n}个工作日内完成审核",
    "审核通过后制作证件或发放待遇，并通过短信告知结果",
    "申请人可选择窗口领取或免费邮寄送达",
    "办理结果同步推送至电子证照库，可在手机端查看",
    "对审核结果有异议的，可在收到通知之日起{n}个工作日内申请复核",
)
TIPS = (
    "温馨提示：办理高峰期为每月初和月末，建议提前在线预约，避开上午九点到十点的取号高峰。",
    "请注意，网上申请提交后请留意短信通知，材料需要补正的要在五个工作日内补齐，逾期视为撤回申请。",
    "委托他人代办的，代办人需携带本人身份证和委托人签字的授权委托书。",
    "如对办理结果有疑问，可拨打12345政务服务便民热线咨询，也可在政务服务网留言。",
    "政务服务中心设有帮办代办专区，老年人、残疾人等群体可申请工作人员全程陪同办理。",
    "该事项已纳入“跨省通办”清单，在外省工作生活的群众可以就近办理，无需往返户籍地。",
    "近期有不法分子冒充工作人员以代办为名收取费用，请群众认准官方渠道，谨防上当受骗。",
    "材料中的复印件需用A4纸复印，并由本人签名确认与原件一致。",
    "电子证照与纸质证件具有同等法律效力，办理时可出示电子证照代替实体证件。",
    "节假日期间网上申请照常受理，节后按提交顺序依次审核。",
    "办理过程中如遇系统故障，可向窗口工作人员申请容缺受理，事后补齐材料即可。",
    "同一申请人一年内多次申请被驳回的，请先到窗口咨询，避免重复提交。",
    "符合条件的困难群众可以申请免收工本费，需提供相关证明。",
    "该政策由{department}负责解释，具体以最新公布的文件为准。",
)
NUMERALS = "一二三四五六七八九十"
KINDS = ("办事指南", "法律法规", "热点问答", "日常咨询", "通知公告", "业务指引")
KIND_WEIGHTS = (30, 8, 20, 30, 6, 6)
SERVICE_TYPES = ("consult", "guide", "assist")


@dataclass(frozen=True)
class Matter:
    code: str
    name: str
    topic: Topic
    action: str


def matters() -> list[Matter]:
    """One synthetic matter (事项) per topic and action."""
    result = []
    for ti, topic in enumerate(TOPICS):
        for ai, action in enumerate(topic.actions):
            result.append(
                Matter(
                    f"{topic.dept_code}-G{ti:02d}{ai:02d}", topic.subject + action, topic, action
                )
            )
    return result


def matter_guide(matter: Matter, rng: random.Random) -> dict[str, Any]:
    """The 办事指南 of one synthetic matter, in the wire shape."""
    topic = matter.topic
    fill = {"region": "江宁市", "n": rng.choice((3, 6, 12)), "age": rng.choice((16, 18, 60, 80))}
    return {
        "code": matter.code,
        "name": matter.name,
        "department": topic.department,
        "summary": f"{topic.subject}{matter.action}，由{topic.department}受理。",
        "service_types": list(SERVICE_TYPES[: rng.randint(1, 3)]),
        "conditions": [c.format(**fill) for c in rng.sample(CONDITIONS, 3)],
        "materials": [
            {
                "name": name,
                "form": rng.choice(FORMS),
                "count": rng.choice((1, 1, 1, 2)),
                "required": i < 2 or rng.random() < 0.6,
                "note": "",
            }
            for i, name in enumerate(rng.sample(topic.materials, min(4, len(topic.materials))))
        ],
        "steps": [
            s.format(online=rng.choice(ONLINE).format(short="人社"), n=rng.choice((3, 5, 10)))
            for s in STEPS[:5]
        ],
        "time_limit_days": rng.choice((0, 1, 3, 5, 10, 15, 20)),
        "time_limit_text": "材料齐全的当场办结" if rng.random() < 0.3 else "",
        "fee": "不收费" if rng.random() < 0.8 else "按规定标准收取工本费",
        "legal_basis": list(topic.laws),
        "place": rng.choice(PLACES).format(department=topic.department, region="江宁市"),
        "online_entry": f"https://zwfw.jiangning.example.gov.cn/matters/{matter.code}",
        "contact": "12345",
        "hours": "工作日 9:00-12:00，13:30-17:00",
    }


def _numbered(items: list[str], chinese: bool) -> str:
    if chinese:
        return "；".join(f"（{NUMERALS[i]}）{x}" for i, x in enumerate(items)) + "。"
    return "\n".join(f"{i + 1}. {x}；" for i, x in enumerate(items))


def _answer(rng: random.Random, matter: Matter, person: str, region: str) -> str:
    topic = matter.topic
    fill = {
        "law": "、".join(rng.sample(topic.laws, rng.randint(1, len(topic.laws)))),
        "person": person,
        "action": matter.action,
        "subject": topic.subject,
        "department": topic.department,
        "region": region,
        "date": f"{rng.randint(2019, 2026)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
        "n": rng.choice((3, 5, 6, 10, 12, 15, 20)),
        "age": rng.choice((16, 18, 45, 60, 70, 80)),
        "online": rng.choice(ONLINE).format(short="政务"),
    }
    parts = [rng.choice(OPENINGS).format(**fill)]
    sections = ["conditions", "materials", "steps", "limit", "fee", "where", "money"]
    rng.shuffle(sections)
    for section in sections[: rng.randint(2, 6)]:
        if section == "conditions":
            items = [c.format(**fill) for c in rng.sample(CONDITIONS, rng.randint(2, 4))]
            parts.append("申请条件：" + _numbered(items, rng.random() < 0.5))
        elif section == "materials":
            names = rng.sample(topic.materials, rng.randint(2, len(topic.materials)))
            items = [f"{x}{rng.choice(FORMS)}{rng.randint(1, 2)}份" for x in names]
            parts.append("需要提交的材料：\n" + _numbered(items, False))
        elif section == "steps":
            steps = [s.format(**fill) for s in STEPS[: rng.randint(3, len(STEPS))]]
            parts.append("办理流程：" + "；".join(steps) + "。")
        elif section == "limit":
            parts.append(
                rng.choice(
                    (
                        "办理时限：承诺{n}个工作日内办结，材料齐全、符合法定形式的当场办结。",
                        "法定时限为{n}个工作日，{region}承诺压缩至{m}个工作日。",
                        "自受理之日起{n}个工作日内作出决定，需要现场核查的时间不计入办理时限。",
                    )
                ).format(**fill, m=max(1, int(fill["n"]) // 2))
            )
        elif section == "fee":
            parts.append(
                rng.choice(
                    (
                        "收费标准：本事项不收费。",
                        "首次办理免收工本费，补办、换领的按每证{n}元收取工本费。",
                        "办理过程中不收取任何费用，邮寄送达的邮费由政府承担。",
                    )
                ).format(**fill)
            )
        elif section == "where":
            place = rng.choice(PLACES).format(department=topic.department, region=region)
            parts.append(
                f"办理地点：{place}，工作日上午9:00至12:00、下午1:30至5:00；"
                f"也可以通过{fill['online']}在线申请，咨询电话12345。"
            )
        elif section == "money" and topic.money:
            amount = rng.choice((150, 300, 500, 800, 1200, 1500, 2290))
            parts.append(
                f"待遇标准：按照{region}上年度公布的标准执行，每月{amount}元，"
                "审核通过后次月起按月发放到本人社会保障卡金融账户或指定的银行卡。"
            )
    for tip in rng.sample(TIPS, rng.randint(1, 2)):
        parts.append(tip.format(**fill))
    return "\n".join(parts)


def _title(rng: random.Random, matter: Matter, person: str, region: str) -> str:
    if person[:2] in matter.topic.subject:
        person = ""  # not 灵活就业人员灵活就业人员社保
    cores = TITLE_CORES + (MONEY_CORES if matter.topic.money else ())
    core = rng.choice(cores).format(
        subject=matter.topic.subject, action=matter.action, year=rng.randint(2020, 2026)
    )
    roll = rng.random()
    if roll < 0.3:
        return f"{region}{person}{core}"
    if roll < 0.55:
        return f"{person}{core}"
    if roll < 0.8:
        return f"{region}{core}"
    if roll < 0.9:
        return f"在{region}，{person}{core}"
    return core


def generate(
    n: int, seed: int = 20260101, *, today: date | None = None
) -> Iterator[dict[str, Any]]:
    """``n`` knowledge entries in the wire shape of ``core.entities.KnowledgeEntry``."""
    rng = random.Random(seed)
    today = today or date(2026, 6, 1)
    all_matters = matters()
    seen: set[str] = set()
    for i in range(n):
        matter = rng.choice(all_matters)
        topic = matter.topic
        region = rng.choice(REGIONS)
        person = rng.choice(PERSONS)
        title = _title(rng, matter, person, region)
        suffix = 2
        base = title
        while title in seen:
            # Unique titles, as on the server; real bases number near-duplicates too.
            title = f"{base}（{suffix}）"
            suffix += 1
        seen.add(title)
        effective = today - timedelta(days=rng.randint(0, 2400))
        roll = rng.random()
        if roll < 0.08:
            expiry: date | None = today - timedelta(days=rng.randint(1, 700))
        elif roll < 0.18:
            expiry = today + timedelta(days=rng.randint(30, 1500))
        else:
            expiry = None
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        keywords = list(
            dict.fromkeys([topic.subject, matter.action, topic.area, *rng.sample(PERSONS, 1)])
        )
        yield {
            "id": f"kb-g{i:06d}",
            "title": title[:128],
            "answer": _answer(rng, matter, person, region),
            "category": f"{topic.area}/{topic.subject}/{matter.action}",
            "issuing_unit": f"{region if rng.random() < 0.3 else '江宁市'}{topic.department}",
            "kind": kind,
            "keywords": keywords[: rng.randint(2, 4)],
            "scope": rng.choice(("国家", "省", "市", "市", "区县")),
            "region": region,
            "matter_code": matter.code if rng.random() < 0.85 else None,
            "department": topic.department,
            "service_type": rng.choices(SERVICE_TYPES, (6, 3, 1))[0],
            "effective_date": effective.isoformat(),
            "expiry_date": expiry.isoformat() if expiry else None,
            "version": rng.choice((1, 1, 1, 2, 3)),
            "review_state": "published",
            "source": "；".join(topic.laws),
        }


def load_into_server(
    database_url: str, n: int, seed: int = 20260101, *, batch: int = 5000, quiet: bool = False
) -> int:
    """Create (migrate and demo-seed) a server database and bulk-load ``n`` entries,
    their matter guides, and one change-log row each. Returns the number loaded."""
    from sqlalchemy import insert, update

    from server import models as m
    from server.changes import PUBLIC_KINDS, SEQ
    from server.db import make_engine, migrate, session_factory
    from server.seed import seed_demo
    from server.services import catalog

    engine = make_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as db:
        seed_demo(db)
    rng = random.Random(seed + 1)
    with sessions.begin() as db:
        for matter in matters():
            catalog.upsert_matter(db, matter_guide(matter, rng))
    started = time.monotonic()
    loaded = 0
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal loaded
        if not rows:
            return
        now = datetime.now()
        with sessions.begin() as db:
            # Reserve a block of sequence numbers under the counter's lock, then write
            # the change rows exactly as server.changes.record would, one per entry.
            top = db.execute(
                update(m.Counter)
                .where(m.Counter.name == SEQ)
                .values(value=m.Counter.value + len(rows))
                .returning(m.Counter.value)
            ).scalar_one()
            first = int(top) - len(rows) + 1
            db.execute(insert(m.KnowledgeEntry), rows)
            db.execute(
                insert(m.ChangeLog),
                [
                    {
                        "seq": first + k,
                        "kind": "knowledge_entry",
                        "entity_id": r["id"],
                        "deleted": False,
                        "public": "knowledge_entry" in PUBLIC_KINDS,
                        "team_id": None,
                        "user_a": None,
                        "user_b": None,
                        "queue": False,
                        "at": now,
                    }
                    for k, r in enumerate(rows)
                ],
            )
        loaded += len(rows)
        rows.clear()
        if not quiet:
            print(f"\r  loaded {loaded:,} entries", end="", flush=True)

    for data in generate(n, seed):
        row = dict(data)
        for key in ("effective_date", "expiry_date"):
            row[key] = date.fromisoformat(row[key]) if row[key] else None
        row["updated_at"] = datetime.now()
        rows.append(row)
        if len(rows) >= batch:
            flush()
    flush()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    if not quiet:
        print(f"\n  {loaded:,} entries in {time.monotonic() - started:.1f} s")
    return loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="生成合成的政策问答知识条目")
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--out", type=Path, help="write JSON Lines to this file")
    parser.add_argument("--database-url", help="load into this server database instead")
    args = parser.parse_args(argv)
    if args.database_url:
        load_into_server(args.database_url, args.entries, args.seed)
        return 0
    out = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    total = 0
    for entry in generate(args.entries, args.seed):
        line = json.dumps(entry, ensure_ascii=False)
        total += len(line.encode("utf-8")) + 1
        out.write(line + "\n")
    if args.out:
        out.close()
        print(
            f"{args.entries:,} entries, {total / 1e6:.1f} MB, "
            f"{total / max(1, args.entries) / 1000:.2f} KB each",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
