#include "ubm/codec.h"

#include <kj/exception.h>

namespace slap::ubm {
namespace {

void put_decimal(Decimal d, schema::Decimal::Builder b) {
  b.setMantissa(d.mantissa());
  b.setScale(d.scale());
}

Result<Decimal> get_decimal(schema::Decimal::Reader r) { return Decimal::make(r.getMantissa(), r.getScale()); }

template <typename List>
void put_attributes(const std::vector<Attribute>& attrs, List list) {
  for (unsigned i = 0; i < attrs.size(); ++i) {
    list[i].setKey(attrs[i].key);
    list[i].setValue(attrs[i].value);
  }
}

std::vector<Attribute> get_attributes(capnp::List<schema::Attribute>::Reader list) {
  std::vector<Attribute> out;
  out.reserve(list.size());
  for (auto a : list) out.push_back({std::string(a.getKey().cStr(), a.getKey().size()), std::string(a.getValue().cStr(), a.getValue().size())});
  return out;
}

std::string str(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

void encode_item(const Item& it, schema::Item::Builder ib) {
  ib.setId(it.id.value());
  ib.setKind(static_cast<schema::ItemKind>(it.kind));
  ib.setTitle(it.title);
  ib.setOwner(it.owner.value());
  ib.setParent(it.parent.value());
  if (!it.attributes.empty()) put_attributes(it.attributes, ib.initAttributes(static_cast<unsigned>(it.attributes.size())));
}

Result<Item> decode_item(schema::Item::Reader r, const char* field) {
  const auto kind = static_cast<uint16_t>(r.getKind());
  if (kind > 4) return make_error(Rejection::KIND_MISMATCH, field, "unknown item kind");
  return Item{ItemId{str(r.getId())}, static_cast<ItemKind>(kind), str(r.getTitle()), NodeId{str(r.getOwner())},
              ItemId{str(r.getParent())}, get_attributes(r.getAttributes())};
}

void encode_movement(const Movement& m, schema::Movement::Builder b) {
  b.setResource(m.resource);
  put_decimal(m.quantity.amount, b.initQuantity());
  b.setUnit(m.quantity.unit);
  auto price = b.initPrice();
  price.setMinor(m.price.minor.mantissa());
  price.setScale(m.price.minor.scale());
  price.setCurrency(m.price.currency);
  b.setSource(m.source.value());
  b.setDestination(m.destination.value());
  if (!m.source_section.empty()) b.setSourceSection(m.source_section);
  if (!m.destination_section.empty()) b.setDestinationSection(m.destination_section);
  auto items = b.initItems(static_cast<unsigned>(m.items.size()));
  for (unsigned i = 0; i < m.items.size(); ++i) items.set(i, m.items[i].value());
  b.setStartNs(m.start.value());
  b.setStopNs(m.stop.value());
  b.setCauseSeq(m.cause.value());
  if (!m.attributes.empty()) put_attributes(m.attributes, b.initAttributes(static_cast<unsigned>(m.attributes.size())));
  if (!m.registers.empty()) {
    auto list = b.initRegisters(static_cast<unsigned>(m.registers.size()));
    for (unsigned i = 0; i < m.registers.size(); ++i) encode_item(m.registers[i], list[i]);
  }
}

Result<EntryBody> decode_movement(schema::Movement::Reader r) {
  Movement m;
  m.resource = str(r.getResource());
  auto q = get_decimal(r.getQuantity());
  if (!q) return q.error();
  m.quantity = {q.value(), str(r.getUnit())};
  auto price = r.getPrice();
  auto minor = Decimal::make(price.getMinor(), price.getScale());
  if (!minor) return minor.error();
  m.price = {minor.value(), str(price.getCurrency())};
  m.source = NodeId{str(r.getSource())};
  m.destination = NodeId{str(r.getDestination())};
  m.source_section = str(r.getSourceSection());
  m.destination_section = str(r.getDestinationSection());
  for (auto it : r.getItems()) m.items.emplace_back(str(it));
  m.start = TimestampNs{r.getStartNs()};
  m.stop = TimestampNs{r.getStopNs()};
  m.cause = Seq{r.getCauseSeq()};
  m.attributes = get_attributes(r.getAttributes());
  if (r.hasRegisters()) {
    m.registers.reserve(r.getRegisters().size());
    for (auto it : r.getRegisters()) {
      auto item = decode_item(it, "entry.movement.registers.kind");
      if (!item) return item.error();
      m.registers.push_back(std::move(*item));
    }
  }
  return EntryBody{std::move(m)};
}

}  // namespace

void encode(const EntryBody& body, schema::Entry::Builder out) {
  auto b = out.getBody();
  if (const auto* m = std::get_if<Movement>(&body)) {
    encode_movement(*m, b.initMovement());
  } else if (const auto* n = std::get_if<Node>(&body)) {
    auto nb = b.initNode();
    nb.setId(n->id.value());
    nb.setKind(static_cast<schema::NodeKind>(n->kind));
    nb.setTitle(n->title);
    if (!n->attributes.empty()) put_attributes(n->attributes, nb.initAttributes(static_cast<unsigned>(n->attributes.size())));
  } else if (const auto* it = std::get_if<Item>(&body)) {
    encode_item(*it, b.initItem());
  } else if (const auto* cp = std::get_if<Checkpoint>(&body)) {
    auto cb = b.initCheckpoint();
    cb.setSeq(cp->seq.value());
    cb.setHeadHash(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(cp->head_hash.data()), cp->head_hash.size()));
    cb.setSignature(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(cp->signature.data()), cp->signature.size()));
  } else {
    const auto& id = std::get<Identity>(body);
    auto ib = b.initIdentity();
    ib.setAction(static_cast<schema::IdentityAction>(id.action));
    ib.setSubject(id.subject);
    ib.setSerial(id.serial);
    ib.setFingerprintSha256(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(id.fingerprint_sha256.data()), id.fingerprint_sha256.size()));
    ib.setNotBeforeNs(id.not_before.value());
    ib.setNotAfterNs(id.not_after.value());
    ib.setRole(id.role);
  }
}

Result<EntryBody> decode(schema::Entry::Reader in) {
  // Cap'n Proto readers throw on malformed pointers or exceeded limits; turn that into an error.
  Result<EntryBody> result = make_error(Rejection::MALFORMED_ENTRY, "entry", "undecodable");
  kj::Maybe<kj::Exception> failure = kj::runCatchingExceptions([&]() {
    auto b = in.getBody();
    switch (b.which()) {
      case schema::Entry::Body::MOVEMENT:
        result = decode_movement(b.getMovement());
        return;
      case schema::Entry::Body::NODE: {
        auto r = b.getNode();
        const auto kind = static_cast<uint16_t>(r.getKind());
        if (kind > 2) { result = make_error(Rejection::KIND_MISMATCH, "entry.node.kind", "unknown node kind"); return; }
        result = EntryBody{Node{NodeId{str(r.getId())}, static_cast<NodeKind>(kind), str(r.getTitle()), get_attributes(r.getAttributes())}};
        return;
      }
      case schema::Entry::Body::ITEM: {
        auto item = decode_item(b.getItem(), "entry.item.kind");
        if (!item) { result = item.error(); return; }
        result = EntryBody{std::move(*item)};
        return;
      }
      case schema::Entry::Body::IDENTITY: {
        auto r = b.getIdentity();
        const auto action = static_cast<uint16_t>(r.getAction());
        if (action > 1) { result = make_error(Rejection::KIND_MISMATCH, "entry.identity.action", "unknown identity action"); return; }
        auto fp = r.getFingerprintSha256();
        result = EntryBody{Identity{static_cast<IdentityAction>(action), str(r.getSubject()), str(r.getSerial()),
                                    std::string(reinterpret_cast<const char*>(fp.begin()), fp.size()),
                                    TimestampNs{r.getNotBeforeNs()}, TimestampNs{r.getNotAfterNs()}, str(r.getRole())}};
        return;
      }
      case schema::Entry::Body::CHECKPOINT: {
        auto r = b.getCheckpoint();
        auto h = r.getHeadHash();
        auto sig = r.getSignature();
        result = EntryBody{Checkpoint{Seq{r.getSeq()}, std::string(reinterpret_cast<const char*>(h.begin()), h.size()),
                                      std::string(reinterpret_cast<const char*>(sig.begin()), sig.size())}};
        return;
      }
    }
    result = make_error(Rejection::KIND_MISMATCH, "entry.body", "unknown entry body");
  });
  if (failure != nullptr) return make_error(Rejection::MALFORMED_ENTRY, "entry", "malformed Cap'n Proto message");
  return result;
}

}  // namespace slap::ubm
