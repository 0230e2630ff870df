"""Bodies for the check-in phase of benches/load.sh.

    python3 benches/checkin_body.py OUT            # OUT/checkins.json: a batch of 20 points
    python3 benches/checkin_body.py OUT --pgbench  # OUT/checkins.sql: its 20-row INSERT ceiling
"""
import datetime
import json
import sys

out = sys.argv[1]
if "--pgbench" in sys.argv:
    rows = ",\n".join(
        f"(gen_random_uuid()::text, 'c{i}', 31.2 + random() / 100, 121.4, "
        f"(extract(epoch from now()) * 1000)::bigint, false, 0)"
        for i in range(20)
    )
    with open(f"{out}/checkins.sql", "w") as f:
        f.write(
            "INSERT INTO pgb_checkins (patrol_id, client_id, lat, lng, at, outside, received_at) VALUES\n"
            + rows
            + ";\n"
        )
else:
    loc = json.load(open(f"{out}/report.json"))["location"]
    at = datetime.datetime.now(datetime.timezone.utc).isoformat()
    items = [
        {"client_id": f"p{i}", "lat": loc["lat"] + i * 1e-5, "lng": loc["lng"], "coord": loc.get("coord", "gcj02"), "at": at}
        for i in range(20)
    ]
    json.dump({"items": items}, open(f"{out}/checkins.json", "w"))
