// slapctl as people and scripts use it: real process, exit codes, output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "ledger/record.h"
#include "ledger/rocksdb_storage.h"
#include "tests/ledger/test_util.h"

using namespace slap;

namespace {

struct Run {
  int code;
  std::string out;
};

Run run(const std::string& args) {
  const std::string cmd = std::string(SLAPCTL) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

TEST(Slapctl, DemoVerifyReplayAndDumpAgree) {
  test::TempDir dir;
  const std::string db = (dir.path() / "ledger").string();
  auto demo = run("demo --db " + db + " --movements 3000 --batch 100 --threads 2");
  ASSERT_EQ(demo.code, 0) << demo.out;
  EXPECT_NE(demo.out.find("projection balances   replay == checkpoint: yes"), std::string::npos) << demo.out;

  auto verify = run("ledger verify --db " + db);
  ASSERT_EQ(verify.code, 0) << verify.out;
  EXPECT_EQ(verify.out.rfind("ok head=", 0), 0u) << verify.out;

  auto json = run("ledger verify --json --db " + db);
  EXPECT_NE(json.out.find("\"ok\":true"), std::string::npos) << json.out;

  auto replay = run("ledger replay --db " + db);
  ASSERT_EQ(replay.code, 0) << replay.out;
  EXPECT_NE(replay.out.find("balances"), std::string::npos);

  auto dump = run("ledger dump --db " + db + " --from 5 --limit 3");
  ASSERT_EQ(dump.code, 0) << dump.out;
  EXPECT_EQ(std::count(dump.out.begin(), dump.out.end(), '\n'), 3);
  EXPECT_EQ(dump.out.rfind("{\"seq\":5,", 0), 0u) << dump.out;
}

TEST(Slapctl, VerifyExitsNonZeroAndNamesTheCorruptEntry) {
  test::TempDir dir;
  const std::string db = (dir.path() / "ledger").string();
  ASSERT_EQ(run("demo --db " + db + " --movements 500 --batch 50 --threads 1").code, 0);
  {
    auto storage = ledger::open_rocksdb(db).value();
    const std::string key = ledger::key_of(ubm::Seq{321});
    std::string v = **storage->get(ledger::Family::log, key);
    v[v.size() / 2] = static_cast<char>(v[v.size() / 2] ^ 0x10);
    ledger::WriteBatch wb;
    wb.put(ledger::Family::log, key, v);
    ASSERT_TRUE(storage->write(wb, ledger::Sync::yes).ok());
  }
  auto verify = run("ledger verify --db " + db);
  EXPECT_EQ(verify.code, 1) << verify.out;
  EXPECT_NE(verify.out.find("first_bad=321"), std::string::npos) << verify.out;
}

TEST(Slapctl, BadInvocationsGetAClearErrorAndExitCode) {
  EXPECT_EQ(run("--help").code, 0);
  EXPECT_EQ(run("ledger verify --help").code, 0);
  auto missing = run("ledger verify");
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("--db is required"), std::string::npos) << missing.out;
  auto nodb = run("ledger verify --db /nonexistent/slapledger");
  EXPECT_EQ(nodb.code, 2);
  EXPECT_NE(nodb.out.find("cannot open ledger"), std::string::npos) << nodb.out;
  EXPECT_EQ(run("ledger dump --db /tmp --limit 0").code, 2);
  EXPECT_EQ(run("nosuchcommand").code, 2);
}
