#include "actors/output_template_table.hpp"

#include <tuple>

namespace fa::actors {

bool output_template_table::layout_less::operator()(const ipfix::template_def& a,
                                                    const ipfix::template_def& b) const {
  if (a.scope_count != b.scope_count)
    return a.scope_count < b.scope_count;
  if (a.fields.size() != b.fields.size())
    return a.fields.size() < b.fields.size();
  for (std::size_t i = 0; i < a.fields.size(); ++i) {
    auto& x = a.fields[i];
    auto& y = b.fields[i];
    if (std::tie(x.enterprise, x.id, x.length) != std::tie(y.enterprise, y.id, y.length))
      return std::tie(x.enterprise, x.id, x.length) < std::tie(y.enterprise, y.id, y.length);
  }
  return false;
}

messages::output_template_ptr output_template_table::intern(const ipfix::template_def& layout) {
  std::lock_guard guard{mtx_};
  auto i = by_layout_.find(layout);
  if (i != by_layout_.end())
    if (auto live = i->second.lock())
      return live;
  // Ids never used yet come first, then the one freed longest ago: a collector then
  // sees an id redefined (withdrawn first over TCP, RFC 7011 8) only once every id has
  // been used, and some decoders (tshark, ipfixDump) do not follow a redefinition
  // within a transport session.
  std::uint16_t id;
  if (next_id_ <= last_id_) {
    id = static_cast<std::uint16_t>(next_id_++);
  } else if (!free_ids_.empty()) {
    id = free_ids_.front();
    free_ids_.pop_front();
  } else {
    return nullptr;
  }
  auto* raw = new messages::output_template{id, layout};
  raw->def.id = id;
  // The deleter returns the id once the last plan and the last queued batch using it
  // are gone; it keeps the table alive through a weak reference only.
  std::weak_ptr<output_template_table> weak_self = weak_from_this();
  messages::output_template_ptr ptr{raw, [weak_self](const messages::output_template* p) {
                                      if (auto self = weak_self.lock())
                                        self->release(p->id, p->def);
                                      delete p;
                                    }};
  by_layout_.insert_or_assign(raw->def, ptr);
  if (gauge_)
    gauge_->Set(static_cast<double>(by_layout_.size()));
  return ptr;
}

void output_template_table::release(std::uint16_t id, const ipfix::template_def& layout) {
  std::lock_guard guard{mtx_};
  auto i = by_layout_.find(layout);
  // A new pointer for the same layout may have been issued since this one expired.
  if (i != by_layout_.end() && i->second.expired())
    by_layout_.erase(i);
  free_ids_.push_back(id);
  if (gauge_)
    gauge_->Set(static_cast<double>(by_layout_.size()));
}

std::size_t output_template_table::size() const {
  std::lock_guard guard{mtx_};
  return by_layout_.size();
}

std::vector<messages::output_template_ptr> output_template_table::live() const {
  std::lock_guard guard{mtx_};
  std::vector<messages::output_template_ptr> out;
  for (auto& [_, weak] : by_layout_)
    if (auto p = weak.lock())
      out.push_back(std::move(p));
  return out;
}

} // namespace fa::actors
