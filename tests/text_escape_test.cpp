// Escaping user text (reasons, command names, PBS task texts) for display and JSON, and the
// holder line that carries them: unambiguous whatever the text holds.
#include "text_escape.hpp"

#include <gtest/gtest.h>

#include "lock_holders.hpp"
#include "mount_holders.hpp"

namespace pbs {
namespace {

TEST(TextEscapeTest, ControlsAndBytesThatAreNotUtf8AreShownEscaped) {
  EXPECT_EQ(escape_text("tape copy, ask alice"), "tape copy, ask alice");
  EXPECT_EQ(escape_text("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(escape_text("a\nb\tc\rd\x7f"), "a\\nb\\tc\\x0dd\\x7f");
  EXPECT_EQ(escape_text("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape_text("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // é €: kept
  EXPECT_EQ(escape_text("\xc2\x9b"), "\\xc2\\x9b");                                // C1 control CSI
  EXPECT_EQ(escape_text("\xc0\xaf"), "\\xc0\\xaf");                                // overlong '/'
  EXPECT_EQ(escape_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");                       // a surrogate
  EXPECT_EQ(escape_text("\xe2\x82"), "\\xe2\\x82");                                // cut short
  EXPECT_EQ(escape_text("say \"hi\" \\o/"), "say \\\"hi\\\" \\\\o/");
  EXPECT_EQ(escape_controls("UPID:pbs1:store1\\x3avm-100\n"), "UPID:pbs1:store1\\x3avm-100\\n");
}

TEST(TextEscapeTest, QuotedTextReadsBackExactly) {
  for (std::string text : {std::string(""), std::string("plain"), std::string("a \" b \\ c"),
                           std::string("\x1b\n\t\xff\xfe\x00z", 8), std::string("x reason=y"),
                           std::string("\" via=mount pid=1 \"")}) {
    std::string quoted = quote_text(text) + " rest";
    std::string_view in = quoted;
    auto back = unquote_text(in);
    ASSERT_TRUE(back.has_value()) << quoted;
    EXPECT_EQ(*back, text);
    EXPECT_EQ(in, " rest");
  }
  for (std::string_view bad : {"", "plain", "\"open", "\"bad \\q\"", "\"\\x4\""}) {
    std::string_view in = bad;
    EXPECT_FALSE(unquote_text(in).has_value()) << bad;
  }
}

TEST(TextEscapeTest, JsonIsValidUtf8WhateverTheBytes) {
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("\x1b[0m\n"), "\"\\u001b[0m\\u000a\"");
  EXPECT_EQ(json_string("\xff\xfe ok"), "\"\\ufffd\\ufffd ok\"");
  EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(json_string("\xc2\x85"), "\"\\u0085\"");  // C1 NEL, escaped
}

// A holder line cannot be forged by what a holder controls: its command name (prctl), its
// reason, a task text.
TEST(HolderLineTest, HostileTextsReadBackAsThemselves) {
  LockHolder h;
  h.pid = 4242;
  h.uid = 1000;
  h.mode = LockMode::kExclusive;
  h.via_mount = true;
  h.since = parse_iso_time("2026-11-25T14:02:11Z");
  h.command = "x reason=y";
  h.reason = "\" pid=1 command=\"pbs-lockfs\" via=direct\n\x1b[2J\xff";
  h.task = "UPID:pbs1:0000:store1\\x3avm-100: (reader)";
  std::string line = describe_holder(h);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  auto back = parse_holder(line);
  ASSERT_TRUE(back.has_value()) << line;
  EXPECT_EQ(back->pid, 4242);
  EXPECT_EQ(back->uid, 1000u);
  EXPECT_EQ(back->mode, LockMode::kExclusive);
  EXPECT_TRUE(back->via_mount);
  EXPECT_EQ(back->since, h.since);
  EXPECT_EQ(back->command, h.command);
  EXPECT_EQ(back->reason, h.reason);
  EXPECT_EQ(back->task, h.task);

  MountHeldLock held{12, 345, h};
  auto wire = parse_mount_held(format_mount_held(held));
  ASSERT_TRUE(wire.has_value());
  EXPECT_EQ(wire->device, 12u);
  EXPECT_EQ(wire->inode, 345u);
  EXPECT_EQ(wire->holder.reason, h.reason);
  EXPECT_FALSE(parse_holder("command=\"unterminated").has_value());
  EXPECT_FALSE(parse_holder("uid=0 mode=shared").has_value());  // no pid
  EXPECT_FALSE(parse_mount_held("dev=1 pid=2").has_value());
}

}  // namespace
}  // namespace pbs
