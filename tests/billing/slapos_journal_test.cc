// A SlapOS node's daily consumption journal (slapos.core's collector: "Eco Information for
// COMP-...", ../shared/reference/tioxml-example-2019-10-07.xml) posted to the market the next
// morning: the computer's lines are its owner's, each slapuserN line goes to the instance that held
// that partition that day, and nothing is read through a float.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "slapd/usage/tioxml.h"
#include "tests/billing/billing_fixture.h"

namespace slap::billing::testing {
namespace {

std::string reference_journal() {
  std::ifstream in(std::string(SHARED_REFERENCE) + "/tioxml-example-2019-10-07.xml");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string attribute(const ubm::Movement& m, std::string_view key) {
  for (const auto& a : m.attributes) {
    if (a.key == key) return a.value;
  }
  return {};
}

TEST(SlapOSJournal, TheReferenceJournalIsRecordedForItsComputerAndTheInstancesThatHeldItsPartitions) {
  const std::string xml = reference_journal();
  if (xml.empty()) GTEST_SKIP() << "../shared/reference is not beside the checkout";
  World w;
  // The day before the journal's day: the computer of the journal, 14 partitions, all taken.
  w.clock.set(usage::parse_date("2019-10-06 08:00:00").value().value());
  w.party("owner");
  w.party("alice");
  w.computer("COMP-192938", 10);
  w.format("COMP-192938", 14);
  w.supply("COMP-192938");
  std::map<std::string, std::string> holder;  // slapuserN -> instance
  for (int i = 0; i < 14; ++i) {
    const Outcome o = w.request("eco-" + std::to_string(i));
    ASSERT_EQ(o.computer, "COMP-192938");
    holder["slapuser" + o.partition.substr(8)] = o.instance;
  }
  // Posted the next morning, as the collector does.
  w.clock.set(usage::parse_date("2019-10-08 06:30:00").value().value());
  auto parsed = usage::parse_journal(xml);
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  const ReportUsage report{"COMP-192938", *parsed};
  w.ok(report);

  const auto usage = movements(w, kUsageJournalAttribute);
  ASSERT_EQ(usage.size(), parsed->front().lines.size()) << "one movement per measured line, none split: each partition was held all day";
  const int64_t day_start = usage::parse_date("2019-10-07 00:00:00").value().value();
  const int64_t day_stop = usage::parse_date("2019-10-07 23:59:59").value().value();
  size_t computer_lines = 0, partition_lines = 0;
  for (size_t k = 0; k < usage.size(); ++k) {
    const auto& m = usage[k];
    const auto& line = parsed->front().lines[k];
    EXPECT_EQ(m.resource, line.resource);
    EXPECT_TRUE(m.quantity.amount.identical(line.quantity)) << m.quantity.amount.to_string();
    EXPECT_EQ(m.quantity.unit, line.unit);
    EXPECT_EQ(attribute(m, "reference"), line.reference);
    EXPECT_EQ(m.start.value(), day_start);
    EXPECT_EQ(m.stop.value(), day_stop);
    if (line.reference == "COMP-192938") {
      ++computer_lines;
      EXPECT_EQ(m.source.value(), "owner");
      EXPECT_EQ(m.destination.value(), std::string(kMarketNode));
      ASSERT_EQ(m.items.size(), 1u);
      EXPECT_EQ(m.items[0].value(), "COMP-192938");
    } else {
      ++partition_lines;
      ASSERT_TRUE(holder.count(line.reference)) << line.reference;
      EXPECT_EQ(m.destination.value(), "alice");
      ASSERT_EQ(m.items.size(), 2u);
      EXPECT_EQ(m.items[0].value(), holder[line.reference]) << line.reference;
    }
  }
  EXPECT_EQ(computer_lines, 2u) << "cpu load and memory; the unmeasured zero-emission ratio is not recorded";
  EXPECT_EQ(partition_lines, usage.size() - 2);
  // The CPU load of the computer, exactly as written, in percent.
  EXPECT_EQ(usage[0].quantity.amount.to_string(), "76.4371428571");
  EXPECT_EQ(usage[0].quantity.unit, "percent");
  // The same journal posted again (the node did not hear the answer) adds nothing.
  const ubm::Seq head = w.ledger().head();
  w.ok(report);
  EXPECT_EQ(w.ledger().head(), head);
  w.expect_replay_equal();
}

}  // namespace
}  // namespace slap::billing::testing
