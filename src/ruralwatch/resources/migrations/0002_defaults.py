from django.db import migrations

# The data as it stood when this migration was written: a migration carries its own data, so
# a later change of the defaults in the code does not change what this migration did.
# Minimums from the policy documents summarised in DOMAIN.md (docs/resources.md cites them).

# (code, name_zh, name_en, unit_zh, unit_en, pack_size, consumable, per_visit, volume, order)
ITEMS = [
    ("antipyretic", "退热药（布洛芬/对乙酰氨基酚）", "Antipyretics (ibuprofen/paracetamol)",
     "盒", "box", 100, True, 1.0, 0.3, 1),
    ("antigen_kit", "抗原检测试剂", "Antigen test kits", "人份", "test", 50, True, 1.0, 0.05, 2),
    ("pulse_oximeter", "指夹式脉搏血氧仪", "Pulse oximeters", "台", "device", 10, False, 0.0,
     0.5, 3),
    ("oxygen_concentrator", "制氧机", "Oxygen concentrators", "台", "device", 1, False, 0.0,
     60.0, 4),
    ("health_pack", "健康包", "Health packs", "个", "pack", 20, True, 0.0, 3.0, 5),
]

# (item, facility_kind, units, population_share, days, source)
RULES = [
    ("pulse_oximeter", "township_health_centre", 20, None, None,
     "≥ 20 per township health centre (Dec 2022 notice on oximeter allocation)"),
    ("pulse_oximeter", "village_clinic", 2, None, None,
     "≥ 2 per village clinic (Dec 2022 notice on oximeter allocation)"),
    ("oxygen_concentrator", "township_health_centre", 1, None, None,
     "one oxygen concentrator per township health centre"),
    ("antipyretic", "township_health_centre", None, 0.15, None,
     "symptomatic drugs for 15–20 % of the population served"),
    ("antipyretic", "village_clinic", None, 0.15, 14.0,
     "symptomatic drugs for 15–20 % of the population served; village clinics ≥ 2 weeks"),
    ("antigen_kit", "township_health_centre", None, 0.15, None,
     "antigen tests for 15–20 % of the population served"),
    ("antigen_kit", "village_clinic", None, 0.15, None,
     "antigen tests for 15–20 % of the population served"),
]

# TaskKind rows for the dispatch sources this app feeds (dispatch migration 0005 added them).
# (code, name_zh, name_en, source, owner_role, owner_level, ack_hours, done_hours,
#  escalate_every_hours, remind_before_hours, priority, outcome_required, auto_close, params)
KINDS = [
    ("stock_out", "药品物资缺货或低于最低储备", "Restock a facility out of stock or below its minimum",
     "stock_out", "township", 4, 24.0, 72.0, 24.0, 2.0, 2, False, True, {}),
    ("capacity_gap", "医疗服务能力缺口（发热门诊、ICU、村医）",
     "Close a capacity gap (fever clinic, ICU, village doctor)", "capacity_gap", "county", 3,
     24.0, 168.0, 48.0, 2.0, 3, False, True, {}),
]


def load(apps, schema_editor):
    Item = apps.get_model("resources", "Item")
    Rule = apps.get_model("resources", "MinimumRule")
    TaskKind = apps.get_model("dispatch", "TaskKind")
    for code, zh, en, uzh, uen, pack, consumable, per_visit, volume, order in ITEMS:
        Item.objects.update_or_create(
            code=code,
            defaults={
                "name_zh": zh,
                "name_en": en,
                "unit_zh": uzh,
                "unit_en": uen,
                "pack_size": pack,
                "consumable": consumable,
                "per_visit": per_visit,
                "volume": volume,
                "order": order,
            },
        )
    for item, kind, units, share, days, source in RULES:
        Rule.objects.update_or_create(
            item_id=item,
            facility_kind=kind,
            defaults={
                "units": units,
                "population_share": share,
                "days": days,
                "source": source,
                "active": True,
            },
        )
    for (code, name_zh, name_en, source, role, level, ack, done, every, remind, priority,
         outcome_required, auto_close, params) in KINDS:
        TaskKind.objects.update_or_create(
            code=code,
            defaults={
                "name_zh": name_zh,
                "name_en": name_en,
                "source": source,
                "owner_role": role,
                "owner_level": level,
                "ack_hours": ack,
                "done_hours": done,
                "escalate_every_hours": every,
                "remind_before_hours": remind,
                "priority": priority,
                "outcome_required": outcome_required,
                "auto_close": auto_close,
                "params": params,
                "active": True,
            },
        )


def unload(apps, schema_editor):
    apps.get_model("dispatch", "TaskKind").objects.filter(
        code__in=[k[0] for k in KINDS], task__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("resources", "0001_initial"),
        ("dispatch", "0005_new_sources"),
    ]
    operations = [migrations.RunPython(load, unload)]
