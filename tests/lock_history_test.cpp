// The event ring, lock events as JSON lines, and the queries and times admins type.
#include <gtest/gtest.h>

#include "event_query.hpp"
#include "lock_history.hpp"

namespace pbs {
namespace {

using std::chrono::seconds;

LockEvent hold_of(const std::string& object, LockEvent::Time start) {
  LockEvent e;
  e.type = LockEvent::Type::kHold;
  e.object = LockObject::parse("store1", Namespace(), object, false).value();
  e.mode = LockMode::kExclusive;
  e.pid = 812;
  e.uid = 34;
  e.command = "proxmox-backup-proxy";
  e.start = start;
  return e;
}

TEST(LockHistory, KeepsTheNewestEventsAndCountsTheDropped) {
  LockHistory history(3);
  const auto t = std::chrono::system_clock::now();
  for (int i = 0; i < 5; ++i)
    history.record(hold_of("vm/" + std::to_string(100 + i), t));
  auto events = history.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events.front().object.group.id, "102");
  EXPECT_EQ(events.back().id, 5u);
  EXPECT_EQ(history.dropped(), 2u);
}

TEST(LockHistory, AHoldIsCompletedInPlaceAndADroppedOneIsNotFound) {
  LockHistory history(2);
  const auto t = std::chrono::system_clock::now();
  auto first = history.record(hold_of("vm/100", t));
  EXPECT_TRUE(history.find(first)->ongoing());
  EXPECT_TRUE(history.finish(first, t + seconds(5), "released"));
  EXPECT_EQ(history.find(first)->outcome, "released");
  EXPECT_EQ(*history.find(first)->end, t + seconds(5));
  history.record(hold_of("vm/101", t));
  history.record(hold_of("vm/102", t));
  EXPECT_FALSE(history.finish(first, t, "released"));
  EXPECT_FALSE(history.find(first).has_value());
}

TEST(LockHistory, ZeroCapacityRemembersNothing) {
  LockHistory history(0);
  history.record(hold_of("vm/100", std::chrono::system_clock::now()));
  EXPECT_EQ(history.size(), 0u);
  EXPECT_EQ(history.dropped(), 1u);
}

TEST(LockEventJson, RoundTripsEveryField) {
  LockEvent e =
      hold_of("vm/100/2026-12-02T02:00:00Z", parse_event_time("2026-12-02T02:13:07.412Z").value());
  e.object = LockObject::parse("store1", Namespace::parse("prod/a").value(),
                               "vm/100/2026-12-02T02:00:00Z", true)
                 .value();
  e.id = 17;
  e.task = "UPID:pbs:000003E8:00000001:00000001:6750A000:prune:store1:root@pam:";
  e.reason = "tape \"copy\"\nline two";
  e.end = parse_event_time("2026-12-02T02:14:00Z");
  e.outcome = "released";
  e.note = "n";
  std::string line = event_json(e);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find(R"("start":"2026-12-02T02:13:07.412Z")"), std::string::npos) << line;
  auto back = parse_event_json(line);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, 17u);
  EXPECT_EQ(back->object, e.object);
  EXPECT_EQ(back->object.kind, LockKind::kManifest);
  EXPECT_EQ(back->mode, e.mode);
  EXPECT_EQ(back->pid, 812);
  EXPECT_EQ(back->uid, 34u);
  EXPECT_EQ(back->command, e.command);
  EXPECT_EQ(back->task, e.task);
  EXPECT_EQ(back->reason, e.reason);
  EXPECT_EQ(back->start, e.start);
  EXPECT_EQ(back->end, e.end);
  EXPECT_EQ(back->outcome, "released");
}

TEST(LockEventJson, UnknownPidModeAndEndAreNullAndInvalidTextIsReplaced) {
  LockEvent e = hold_of("vm/100", std::chrono::system_clock::now());
  e.type = LockEvent::Type::kRefused;
  e.pid = 0;
  e.mode.reset();
  e.command = std::string("bad\xff\xfe");
  std::string line = event_json(e);
  EXPECT_NE(line.find(R"("pid":null)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("mode":null)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("end":null)"), std::string::npos) << line;
  auto back = parse_event_json(line);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->pid, 0);
  EXPECT_FALSE(back->mode);
  EXPECT_TRUE(back->ongoing());
}

TEST(LockEventJson, ALineThatIsNotAnEventIsRefused) {
  for (const char* bad : {"", "{}", "[1]", "not json", R"({"id":1,"type":"hold"})",
                          R"({"id":1,"type":"dance","store":"store1","ns":"","kind":"group",)"
                          R"("object":"vm/100","mode":null,"via":"mount","pid":null,"uid":null,)"
                          R"("command":"","task":"","reason":"","start":"2026-12-02T02:13:07Z",)"
                          R"("end":null,"outcome":""})"}) {
    EXPECT_FALSE(parse_event_json(bad)) << bad;
  }
}

TEST(EventQuery, MatchesTheObjectItsGroupAndTheTimeWindow) {
  const auto t = parse_event_time("2026-12-02T02:00:00Z").value();
  LockEvent snapshot = hold_of("vm/100/2026-12-01T00:00:00Z", t);
  snapshot.end = t + std::chrono::minutes(30);
  EventQuery q;
  q.object = "vm/100";
  EXPECT_TRUE(q.matches(snapshot));  // a snapshot of the group
  q.object = "vm/100/2026-12-01T00:00:00Z";
  EXPECT_TRUE(q.matches(snapshot));
  q.object = "vm/101";
  EXPECT_FALSE(q.matches(snapshot));
  q.object.reset();
  q.since = q.until = t + std::chrono::minutes(13);  // "at 02:13"
  EXPECT_TRUE(q.matches(snapshot));
  q.since = q.until = t + std::chrono::minutes(31);
  EXPECT_FALSE(q.matches(snapshot));
  snapshot.end.reset();  // still held: matches any later time
  EXPECT_TRUE(q.matches(snapshot));
  q.since = q.until = t - seconds(1);
  EXPECT_FALSE(q.matches(snapshot));
  q = {};
  q.store = "store2";
  EXPECT_FALSE(q.matches(snapshot));
}

TEST(AdminTime, ReadsTheFormsAdminsType) {
  const auto now = parse_event_time("2026-12-02T12:00:00Z").value();
  EXPECT_EQ(parse_admin_time("now", now).value(), now);
  EXPECT_EQ(parse_admin_time("-2h", now).value(), now - std::chrono::hours(2));
  EXPECT_EQ(parse_admin_time("-90s", now).value(), now - seconds(90));
  EXPECT_EQ(parse_admin_time("2026-12-02T01:13:00Z", now).value(),
            parse_event_time("2026-12-02T01:13:00Z").value());
  EXPECT_EQ(parse_admin_time("2026-12-02T01:13Z", now).value(),
            parse_event_time("2026-12-02T01:13:00Z").value());
  // Local forms: the same instant as the C library's local time says.
  std::tm tm{};
  tm.tm_year = 126, tm.tm_mon = 11, tm.tm_mday = 2, tm.tm_hour = 2, tm.tm_min = 13;
  tm.tm_isdst = -1;
  const auto local = std::chrono::system_clock::from_time_t(mktime(&tm));
  EXPECT_EQ(parse_admin_time("2026-12-02 02:13", now).value(), local);
  EXPECT_EQ(parse_admin_time("2026-12-02T02:13:00", now).value(), local);
  for (const char* bad : {"", "02:61", "yesterday-ish", "-2x", "2026-13-02", "tomorrow"}) {
    EXPECT_FALSE(parse_admin_time(bad, now).ok()) << bad;
  }
}

}  // namespace
}  // namespace pbs
