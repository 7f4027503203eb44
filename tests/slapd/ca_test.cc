#include "slapd/ca/certificate_authority.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/ledger/test_util.h"

using namespace slap;

TEST(CertificateAuthority, IssuesCertificatesThatNameTheirIdentity) {
  auto authority = ca::CertificateAuthority::create("test CA");
  ASSERT_TRUE(authority.ok());
  auto cert = authority->issue({.subject = "COMP-42", .kind = ca::IdentityKind::computer});
  ASSERT_TRUE(cert.ok());
  auto id = ca::identity_of_pem(cert->certificate_pem);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->subject, "COMP-42");
  EXPECT_EQ(id->kind, ca::IdentityKind::computer);
  EXPECT_EQ(id->serial_hex, cert->serial_hex);
  EXPECT_EQ(cert->fingerprint_sha256.size(), 32u);
  EXPECT_GT(cert->not_after_ns, cert->not_before_ns);
  auto other = authority->issue({.subject = "COMP-42", .kind = ca::IdentityKind::computer});
  EXPECT_NE(other->serial_hex, cert->serial_hex);
  EXPECT_FALSE(authority->issue({.subject = ""}).ok());
}

TEST(CertificateAuthority, SavesTheKeyPrivatelyAndLoadsItBack) {
  test::TempDir dir;
  auto authority = ca::CertificateAuthority::create("test CA").value();
  ASSERT_TRUE(authority.save(dir.path()).ok());
  struct stat st {};
  ASSERT_EQ(stat((dir.path() / "ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = ca::CertificateAuthority::load(dir.path());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->certificate_pem(), authority.certificate_pem());
  EXPECT_FALSE(ca::CertificateAuthority::load(dir.path() / "nowhere").ok());
}

TEST(CertificateAuthority, SignaturesVerifyOnlyWithTheSigningCa) {
  auto a = ca::CertificateAuthority::create("A").value();
  auto b = ca::CertificateAuthority::create("B").value();
  auto sig = a.sign("seq=10 head=abcd");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(ca::verify_signature(a.certificate_pem(), "seq=10 head=abcd", *sig));
  EXPECT_FALSE(ca::verify_signature(a.certificate_pem(), "seq=11 head=abcd", *sig));
  EXPECT_FALSE(ca::verify_signature(b.certificate_pem(), "seq=10 head=abcd", *sig));
}
