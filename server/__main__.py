"""Command line of the central server: ``python -m server run|seed-demo|create-user|compact``
and the integration keys (``create-api-key|list-api-keys|revoke-api-key``)."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys

from sqlalchemy.exc import IntegrityError, OperationalError

from core.enums import Role


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from server.config import ServerSettings

    settings = ServerSettings()
    if getattr(args, "database_url", None):
        settings.database_url = args.database_url
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    import uvicorn

    from server import logs
    from server.limits import uvicorn_options

    settings = _settings(args)
    settings.log_level = args.log_level
    logs.configure(args.log_level)
    workers = int(args.workers)
    if workers < 1:
        print("错误：--workers 至少为 1", file=sys.stderr)
        return 2
    if workers > 1 and settings.database_url.startswith("sqlite"):
        print(
            "错误：SQLite 数据库只能由一个服务器进程使用；多个工作进程（--workers）"
            "需要 PostgreSQL（--database-url postgresql+psycopg://…）",
            file=sys.stderr,
        )
        return 2
    # Long polls hold requests open for up to a minute; a stop should not wait for them.
    common: dict[str, object] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "log_config": None,  # uvicorn's own lines go through the masked JSON handler too
        "access_log": False,  # server/logs.py writes one line per request
        "timeout_graceful_shutdown": 3,
        **uvicorn_options(settings, workers=workers),
    }
    if workers == 1:
        from server.app import create_app

        app = create_app(settings)
        if args.seed_demo:
            from server.seed import seed_demo

            with app.state.db() as db:
                seed_demo(db)
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return 0
    return _run_workers(args, settings, workers, common)


def _run_workers(
    args: argparse.Namespace, settings: object, workers: int, common: dict[str, object]
) -> int:
    """Migrate (and seed) once here, then let uvicorn start and supervise the workers.

    Every worker builds its app from the environment (``server.app:app_from_environment``)
    and writes its metrics to a shared directory, summed by whichever worker is scraped.
    """
    import shutil
    import tempfile

    import uvicorn

    from server.db import make_engine, migrate, session_factory

    url = settings.database_url  # type: ignore[attr-defined]
    engine = make_engine(url)
    try:
        migrate(engine)
        if args.seed_demo:
            from server.seed import seed_demo

            with session_factory(engine)() as db:
                seed_demo(db)
    finally:
        engine.dispose()
    os.environ["BANGBAN_DATABASE_URL"] = url
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="bangban-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    try:
        uvicorn.run(
            "server.app:app_from_environment",
            factory=True,
            workers=workers,
            **common,  # type: ignore[arg-type]
        )
    finally:
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from server.db import make_engine, migrate, session_factory
    from server.seed import seed_demo

    settings = _settings(args)
    engine = make_engine(settings.database_url)
    migrate(engine)
    with session_factory(engine)() as db:
        counts = seed_demo(db)
    print("演示数据已载入：" + "，".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def cmd_create_user(args: argparse.Namespace) -> int:
    from server import models as m
    from server.audit import record_audit
    from server.auth import hash_password
    from server.db import make_engine, migrate, session_factory
    from server.services.catalog import touch_agent

    password = os.environ.get("BANGBAN_NEW_PASSWORD") or getpass.getpass("新用户的密码：")
    if len(password) < 8:
        print("错误：密码至少 8 个字符", file=sys.stderr)
        return 2
    settings = _settings(args)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        with session_factory(engine)() as db:
            if args.team and db.get(m.Team, args.team) is None:
                db.add(m.Team(id=args.team, name=args.team_name or args.team, office=""))
            user = m.User(
                username=args.username,
                display_name=args.display_name or args.username,
                password_hash=hash_password(password),
                role=args.role,
                team_id=args.team,
                staff_number=args.staff_number or "",
                capacity=args.capacity,
            )
            db.add(user)
            try:
                db.flush()
                touch_agent(db, user)
                # From the command line: no signed-in actor, the operating-system account instead.
                record_audit(
                    db,
                    actor_id=None,
                    action="user.create",
                    target_kind="user",
                    target_id=user.id,
                    detail={
                        "username": user.username,
                        "role": user.role,
                        "team_id": user.team_id,
                        "via": "command_line",
                        "os_user": _os_user(),
                    },
                )
                db.commit()
            except IntegrityError:
                print(f"错误：用户名 {args.username} 已存在", file=sys.stderr)
                return 1
    finally:
        engine.dispose()  # no connection left open (PostgreSQL)
    print(f"已创建用户 {args.username}（{Role(args.role).label}）")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from server.db import make_engine, migrate, session_factory
    from server.services.compaction import compact
    from server.services.housekeeping import Retention, trim

    settings = _settings(args)
    days = settings.tombstone_horizon_days if args.days is None else args.days

    def pick(value: float | None, default: float) -> float:
        return default if value is None else value

    spans = [
        days,
        pick(args.mutation_days, settings.mutation_resend_days),
        pick(args.event_days, settings.event_retention_days),
        pick(args.audit_days, settings.audit_retention_days),
    ]
    if min(spans) < 0:
        print("错误：天数不能为负数", file=sys.stderr)
        return 2
    retention = Retention(*spans[1:], webhook_days=settings.webhook_retention_days)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        with sessions() as db:
            result = compact(db, days=days)
            db.commit()
        trimmed = trim(sessions, retention, chunk=args.chunk)
    finally:
        engine.dispose()
    print(
        f"已清理被新记录覆盖的变更 {result.superseded} 条、{days:g} 天前的删除记录 "
        f"{result.tombstones} 条；同步游标早于 {result.horizon_seq} 的客户端将重新下载全部数据"
    )
    print(
        f"已清理 {retention.mutations_days:g} 天前的已处理操作记录 "
        f"{trimmed.total('applied_mutations')} 条、{retention.events_days:g} 天前的实时通知 "
        f"{trimmed.total('events')} 条、{retention.audit_days:g} 天前的审计日志 "
        f"{trimmed.total('audit_log')} 条、{retention.webhook_days:g} 天前已送达的回调 "
        f"{trimmed.total('webhook_deliveries')} 条（每批最多 {args.chunk} 条）"
    )
    return 0


def _open_db(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from server.db import make_engine, migrate, session_factory

    engine = make_engine(_settings(args).database_url)
    migrate(engine)
    return engine, session_factory(engine)


def cmd_create_api_key(args: argparse.Namespace) -> int:
    from server.services.intake import create_key

    routes: dict[str, str] = {}
    for item in args.route or []:
        matter, sep, team = item.partition("=")
        if not sep or not matter.strip() or not team.strip():
            print("错误：--route 应写作 事项编码=班组编号", file=sys.stderr)
            return 2
        routes[matter.strip()] = team.strip()
    engine, sessions = _open_db(args)
    try:
        with sessions() as db:
            try:
                made = create_key(
                    db,
                    name=args.name,
                    team_ids=args.team,
                    callback_url=args.callback or "",
                    routes=routes,
                    via="command_line",
                )
            except ValueError as exc:
                print(f"错误：{exc}", file=sys.stderr)
                return 2
            db.commit()
    finally:
        engine.dispose()
    print(f"已创建集成密钥 {made.id}（{args.name}，班组 {'、'.join(args.team)}）")
    print(f"集成密钥：{made.key}")
    print(f"回调签名密钥：{made.signing_secret}")
    print("以上两项只显示这一次，请立即交给对接系统妥善保存。")
    return 0


def cmd_list_api_keys(args: argparse.Namespace) -> int:
    from server.services.intake import key_out, list_keys

    engine, sessions = _open_db(args)
    try:
        with sessions() as db:
            rows = [key_out(r) for r in list_keys(db)]
    finally:
        engine.dispose()
    if not rows:
        print("（没有集成密钥）")
    for r in rows:
        state = f"已吊销 {r['revoked_at'][:16]}" if r["revoked_at"] else "有效"
        callback = r["callback_url"] or "无回调"
        print(
            f"{r['id']}\t{r['name']}\t{r['key_prefix']}…\t{','.join(r['team_ids'])}\t"
            f"{callback}\t{state}"
        )
    return 0


def cmd_revoke_api_key(args: argparse.Namespace) -> int:
    from server.services.intake import revoke_key

    engine, sessions = _open_db(args)
    try:
        with sessions() as db:
            if not revoke_key(db, args.key_id, via="command_line"):
                print(f"错误：没有有效的集成密钥 {args.key_id}", file=sys.stderr)
                return 1
            db.commit()
    finally:
        engine.dispose()
    print(f"已吊销集成密钥 {args.key_id}")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("应为正整数")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server", description="帮办工作台中心服务器")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="启动服务器")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8765)
    run.add_argument("--database-url", help="默认：用户数据目录下的 SQLite 文件")
    run.add_argument("--seed-demo", action="store_true", help="启动前载入演示数据（幂等）")
    run.add_argument(
        "--log-level", default="info", help="日志级别（JSON 行写到标准错误；默认 info）"
    )
    run.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("BANGBAN_WORKERS", "1")),
        help="工作进程数（默认 1；大于 1 时需要 PostgreSQL）",
    )
    run.set_defaults(func=cmd_run)

    seed = sub.add_parser("seed-demo", help="载入演示数据（可重复执行）")
    seed.add_argument("--database-url")
    seed.set_defaults(func=cmd_seed_demo)

    create = sub.add_parser("create-user", help="新建用户（密码从终端读取或 BANGBAN_NEW_PASSWORD）")
    create.add_argument("username")
    create.add_argument("--role", choices=[r.value for r in Role], default="agent")
    create.add_argument("--display-name")
    create.add_argument("--team", help="班组编号，不存在时新建")
    create.add_argument("--team-name")
    create.add_argument("--staff-number")
    create.add_argument("--capacity", type=int, default=4)
    create.add_argument("--database-url")
    create.set_defaults(func=cmd_create_user)
    compact = sub.add_parser(
        "compact",
        help="清理：被覆盖的变更、过期的删除记录、已处理操作编号、实时通知和审计日志（分批删除）",
    )
    compact.add_argument("--database-url")
    compact.add_argument("--days", type=float, help="删除记录的保留天数（默认取服务器设置，30 天）")
    compact.add_argument(
        "--mutation-days", type=float, help="已处理操作编号的保留天数（客户端重发窗口，默认 30 天）"
    )
    compact.add_argument("--event-days", type=float, help="实时通知的保留天数（默认 2 天）")
    compact.add_argument("--audit-days", type=float, help="审计日志的保留天数（默认 1095 天）")
    compact.add_argument(
        "--chunk", type=_positive_int, default=5000, help="每个事务最多删除的行数（默认 5000）"
    )
    compact.set_defaults(func=cmd_compact)

    key = sub.add_parser("create-api-key", help="新建对接系统的集成密钥（只显示一次）")
    key.add_argument("--name", required=True, help="对接系统的名称，如 12345热线")
    key.add_argument("--team", action="append", required=True, help="可派送的班组编号（可重复）")
    key.add_argument("--callback", help="回调地址（http/https），会话进展时通知对方")
    key.add_argument(
        "--route", action="append", help="事项编码=班组编号：多个班组时按事项派送（可重复）"
    )
    key.add_argument("--database-url")
    key.set_defaults(func=cmd_create_api_key)
    keys = sub.add_parser("list-api-keys", help="列出集成密钥（不显示密钥本身）")
    keys.add_argument("--database-url")
    keys.set_defaults(func=cmd_list_api_keys)
    revoke = sub.add_parser("revoke-api-key", help="吊销集成密钥")
    revoke.add_argument("key_id", help="密钥编号（key_…，见 list-api-keys）")
    revoke.add_argument("--database-url")
    revoke.set_defaults(func=cmd_revoke_api_key)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except OperationalError as exc:
        print(f"错误：无法使用数据库（{exc.orig}）", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
