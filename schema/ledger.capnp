@0xc9ec8a862d061cd3;
# The ledger entry envelope and its payloads, in the Universal Business Model (UBM).
# Every fact the master knows is one Entry; entries are appended in batches and chained by hash
# (see ledger/FORMAT.md). Evolve by adding fields with new ordinals; never change or reuse one.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("slap::schema");

struct Entry {
  seq @0 :UInt64;             # position in the log, from 1, consecutive
  timestampNs @1 :Int64;      # ledger clock when the batch was appended (ns since the Unix epoch)
  body :union {
    movement @2 :Movement;
    node @3 :Node;
    item @4 :Item;
    identity @5 :Identity;
    checkpoint @6 :SignedCheckpoint;
  }
}

# An exact decimal: value = mantissa * 10^-scale. No floating point anywhere in the ledger.
struct Decimal {
  mantissa @0 :Int64;
  scale @1 :UInt8;            # 0..18 digits after the point
}

# Money in integer minor units of a currency (EUR cents, ...), with optional extra digits below
# the minor unit for unit prices (a CPU-second can cost 0.0004 cents): amount = minor * 10^-scale.
struct Money {
  minor @0 :Int64;
  scale @1 :UInt8;
  currency @2 :Text;          # ISO 4217, three upper-case letters; empty only when minor == 0
}

struct Attribute {
  key @0 :Text;
  value @1 :Text;             # free text; JSON allowed
}

# A flow of a resource between two Nodes about some Items (UBM Movement).
struct Movement {
  resource @0 :Text;          # e.g. "hosting/partition", "usage/cpu_s"
  quantity @1 :Decimal;
  unit @2 :Text;              # from the known unit list (ubm/unit.h)
  price @3 :Money;            # price per unit of quantity
  source @4 :Text;            # Node id
  destination @5 :Text;       # Node id
  sourceSection @6 :Text;     # e.g. an account or a site of the source
  destinationSection @7 :Text;
  items @8 :List(Text);       # Item ids this movement concerns
  startNs @9 :Int64;
  stopNs @10 :Int64;          # >= startNs; 0 when open (a delivery that has not stopped yet)
  causeSeq @11 :UInt64;       # seq of the entry (command) that caused it; 0 when none
  attributes @12 :List(Attribute);
  registers @13 :List(Item);  # items this movement is the first to name, registered by it (in list
                              # order, as Item entries at its seq would be) before its references
                              # are resolved; each id is also in `items`. An allocation registers
                              # its new instance this way: one entry, not an Item and a Movement.
}

enum NodeKind {
  person @0;
  organisation @1;
  network @2;
}

# A party. Registered once; its id is unique in the ledger.
struct Node {
  id @0 :Text;
  kind @1 :NodeKind;
  title @2 :Text;
  attributes @3 :List(Attribute);
}

enum ItemKind {
  computer @0;
  partition @1;
  softwareRelease @2;
  instance @3;
  subscription @4;
}

# A thing movements are about. Registered once; its id is unique in the ledger.
struct Item {
  id @0 :Text;
  kind @1 :ItemKind;
  title @2 :Text;             # a release URL, a partition reference, an instance title...
  owner @3 :Text;             # Node id, may be empty
  parent @4 :Text;            # Item id (a partition's computer, an instance's parent), may be empty
  attributes @5 :List(Attribute);
}

enum IdentityAction {
  issue @0;
  revoke @1;
}

# A certificate issued to, or revoked from, a Node or an Item (person, computer, instance).
struct Identity {
  action @0 :IdentityAction;
  subject @1 :Text;           # Node or Item id the certificate names
  serial @2 :Text;            # certificate serial, hex
  fingerprintSha256 @3 :Data; # of the DER certificate
  notBeforeNs @4 :Int64;
  notAfterNs @5 :Int64;
  role @6 :Text;              # "", "admin", "analyst", "auditor"
}

# The master's signature over (seq, chain hash at seq), made with its CA key at a fixed interval and
# on shutdown, so an auditor holding only ca.crt can tell the log was written by this master.
# Signed bytes: "slapledger-checkpoint-v1 seq=<seq> hash=<64 hex digits>".
struct SignedCheckpoint {
  seq @0 :UInt64;             # the entry attested (always before this checkpoint's own entry)
  headHash @1 :Data;          # chain hash at `seq`, 32 bytes
  signature @2 :Data;         # ECDSA/SHA-256, DER
}
