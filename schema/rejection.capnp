@0xf3a1c0e26b9d4a57;
# Rejection reasons: why a command or an entry was refused.
# Numbers are part of the protocol and of the ledger: they are NEVER reused or renumbered.
# Retire a reason by renaming it `retiredXxx`, never by deleting it. Cap'n Proto requires the
# ordinals to be dense, so new reasons are always appended at the end.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("slap::schema");

enum Rejection {
  none @0;                    # not a rejection
  # structural validation of ubm values
  malformedDecimal @1;        # a quantity or price is not an exact decimal we can hold
  decimalOverflow @2;         # exceeds the fixed-point range
  unknownUnit @3;             # quantity unit not in the known list
  missingCurrency @4;         # a price without a currency
  invalidCurrency @5;         # currency not three upper-case letters
  stopBeforeStart @6;         # movement stop < start
  emptyResource @7;           # movement without a resource
  invalidId @8;               # empty or ill-formed node or item id
  unresolvedReference @9;     # names a node or item the ledger does not know
  sameSourceAndDestination @10;
  duplicateId @11;            # registering a node or item id that already exists
  invalidAttribute @12;       # empty or duplicated attribute key
  emptyBatch @13;             # append of zero entries
  batchTooLarge @14;          # more entries than the ledger accepts in one batch
  negativeQuantity @15;       # a quantity below zero where the unit forbids it
  kindMismatch @16;           # a reference resolves to a node or item of the wrong kind
  invalidTime @17;            # negative or absent timestamp
  malformedEntry @18;         # stored or received bytes that do not decode as an entry
  # storage
  storageError @19;           # the write failed; nothing was acknowledged
  ledgerClosed @20;
  # market and master rules
  unknownComputer @21;
  notOwner @22;
  partitionInUse @23;
  unknownPartition @24;       # names a partition the computer does not have
  unknownInstance @25;        # names an instance the registry does not know
  unknownSoftwareRelease @26; # names a release the ledger never saw
  notSupplied @27;            # the computer does not supply the release
  unknownSlaKey @28;          # an SLA condition the market does not understand
  noCapacity @29;             # no free partition satisfies the conditions
  invalidState @30;           # the command does not apply in the current state
  invalidParameter @31;       # a command field is missing or ill-formed
  titleTaken @32;             # the requester already has an instance with that title
  unknownParty @33;           # names a person or organisation the ledger does not know
  releaseInUse @34;           # unsupplying a release that allocated partitions still run
}
