#include "rpc/flow_writer.hpp"

#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace fa::rpc {

namespace {

/// The template set announcing both families' templates (RFC 7011 3.4.1) of one shape
/// (with the UUID elements or without), built once.
std::vector<std::uint8_t> make_template_set(bool uids) {
  std::vector<std::uint8_t> out(ipfix::set_header_size);
  ipfix::encode_template_record(flow_template(false, uids), out);
  ipfix::encode_template_record(flow_template(true, uids), out);
  ipfix::write_u16(out.data(), ipfix::template_set_id);
  ipfix::write_u16(out.data() + 2, static_cast<std::uint16_t>(out.size()));
  return out;
}

const std::vector<std::uint8_t>& template_set(bool uids) {
  static const std::vector<std::uint8_t> sets[2] = {make_template_set(false),
                                                    make_template_set(true)};
  return sets[uids];
}

} // namespace

flow_writer::flow_writer(messages::session_budgets budgets, emit_fn emit, bool uids)
    : budgets_(std::move(budgets))
    , emit_(std::move(emit))
    , uids_(uids) {
  domains_.reserve(max_domains);
}

flow_writer::domain* flow_writer::find_domain(std::uint32_t odid, bool& is_new) {
  is_new = false;
  if (domain_ && domain_->odid == odid)
    return domain_;
  for (auto& d : domains_)
    if (d.odid == odid)
      return &d;
  if (domains_.size() >= max_domains)
    return nullptr;
  is_new = true;
  return &domains_.emplace_back(domain{odid, 0});
}

flow_error flow_writer::add(const flow_fields& f, std::uint32_t now) {
  record_plan plan;
  if (auto err = measure(f, plan, uids_); err != flow_error::none)
    return err;
  std::uint32_t export_time = now;
  if (f.export_time.present && f.export_time.seconds > 0 && f.export_time.seconds <= 0xffffffffLL)
    export_time = static_cast<std::uint32_t>(f.export_time.seconds);
  auto set_id = plan.v6 ? flow_template_v6 : flow_template_v4;
  // Most records go on the open set of the open message, with room for them in it and in
  // the chunk: then `reserve` would do nothing.
  const bool fits = in_message_ && set_id_ == set_id && domain_->odid == f.observation_domain_id &&
                    size_ - message_start_ + plan.size <= ipfix::max_message_size &&
                    chunk_->capacity() - size_ >= plan.size;
  if (!fits && !reserve(plan.size, set_id, f.observation_domain_id, export_time))
    return flow_error::too_many_domains;
  encode(f, plan, chunk_->data() + size_);
  size_ += plan.size;
  ++message_records_;
  return flow_error::none;
}

request_result flow_writer::add_request(std::string_view bytes, std::uint32_t now) {
  request_result out;
  const auto m = begin_request();
  export_request_reader request{bytes};
  bool parsed = true;
  for (std::string_view flow; request.next(flow);) {
    flow_fields f;
    if (!parse_flow(flow, f, request.end())) {
      parsed = false;
      break;
    }
    ++out.flows;
    if (auto err = add(f, now); err != flow_error::none) {
      ++out.refused[static_cast<std::size_t>(err)];
      out.any_refused = true;
    }
  }
  if (!parsed || request.malformed()) {
    rollback_request(m);
    return request_result{.ok = false};
  }
  commit_request();
  return out;
}

flow_writer::mark flow_writer::begin_request() {
  in_request_ = true;
  // The domains' sequence numbers are saved by the first end_message of the request, the
  // only place that changes them: most requests (an Agent's one Flow) end none.
  saved_sequences_ = false;
  return mark{chunk_.get(), size_,   next_capacity_,   in_message_, message_start_,
              set_start_,   set_id_, message_records_, domain_,     domains_.size()};
}

void flow_writer::commit_request() {
  in_request_ = false;
  if (held_.empty())
    return;
  for (auto& c : held_)
    emit_(std::move(c));
  held_.clear();
}

void flow_writer::rollback_request(const mark& m) {
  in_request_ = false;
  // The chunk open before the request is the first one it filled, or still the open one.
  if (!held_.empty() && held_.front().get() == m.chunk)
    chunk_ = std::move(held_.front());
  else if (chunk_.get() != m.chunk)
    chunk_.reset();
  held_.clear();
  size_ = m.size;
  next_capacity_ = m.next_capacity;
  in_message_ = m.in_message;
  message_start_ = m.message_start;
  set_start_ = m.set_start;
  set_id_ = m.set_id;
  message_records_ = m.message_records;
  domain_ = m.current;
  domains_.resize(m.domains);
  if (saved_sequences_)
    for (std::size_t i = 0; i < domains_.size(); ++i)
      domains_[i].sequence = sequences_[i];
}

bool flow_writer::reserve(std::size_t record, std::uint16_t set_id, std::uint32_t odid,
                          std::uint32_t export_time) {
  bool is_new = false;
  auto* d = find_domain(odid, is_new);
  if (!d)
    return false;
  if (in_message_ && domain_ != d)
    end_message();
  // RFC 7011 3.1: a message is at most 65535 octets.
  const std::size_t set_header = set_id_ == set_id ? 0 : ipfix::set_header_size;
  if (in_message_ && size_ - message_start_ + set_header + record > ipfix::max_message_size)
    end_message();
  const std::size_t opening = in_message_ ? (set_id_ == set_id ? 0 : ipfix::set_header_size)
                                          : ipfix::message_header_size +
                                                (is_new ? template_set(uids_).size() : 0) +
                                                ipfix::set_header_size;
  if (!chunk_ || chunk_->capacity() - size_ < opening + record) {
    if (chunk_) {
      // The chunk filled up: the stream is busy, so the next one may be larger.
      end_message();
      emit_chunk();
      next_capacity_ = std::min(next_capacity_ * 2, max_chunk);
    }
    new_chunk(ipfix::message_header_size + template_set(uids_).size() + ipfix::set_header_size +
              record);
  }
  if (!in_message_)
    begin_message(*d, export_time, is_new);
  if (set_id_ != set_id) {
    if (set_id_ != 0)
      ipfix::write_u16(chunk_->data() + set_start_ + 2,
                       static_cast<std::uint16_t>(size_ - set_start_));
    set_start_ = size_;
    ipfix::write_u16(chunk_->data() + size_, set_id);
    size_ += ipfix::set_header_size;
    set_id_ = set_id;
  }
  return true;
}

void flow_writer::begin_message(domain& d, std::uint32_t export_time, bool templates) {
  auto* p = chunk_->data() + size_;
  message_start_ = size_;
  ipfix::write_u16(p, ipfix::ipfix_version);
  ipfix::write_u16(p + 2, 0); // patched by end_message
  ipfix::write_u32(p + 4, export_time);
  ipfix::write_u32(p + 8, d.sequence);
  ipfix::write_u32(p + 12, d.odid);
  size_ += ipfix::message_header_size;
  if (templates) {
    // RFC 7011 8: the template precedes its data in the stream; the session keeps it
    // until the stream ends, so once per domain is enough.
    auto& t = template_set(uids_);
    std::memcpy(chunk_->data() + size_, t.data(), t.size());
    size_ += t.size();
  }
  in_message_ = true;
  domain_ = &d;
  set_id_ = 0;
  message_records_ = 0;
}

void flow_writer::end_message() {
  if (!in_message_)
    return;
  if (set_id_ != 0)
    ipfix::write_u16(chunk_->data() + set_start_ + 2,
                     static_cast<std::uint16_t>(size_ - set_start_));
  ipfix::write_u16(chunk_->data() + message_start_ + 2,
                   static_cast<std::uint16_t>(size_ - message_start_));
  if (in_request_ && !saved_sequences_) {
    // Before the request's first change, for rollback_request.
    saved_sequences_ = true;
    sequences_.clear();
    for (const auto& d : domains_)
      sequences_.push_back(d.sequence);
  }
  domain_->sequence += message_records_; // RFC 7011 3.1: modulo 2^32
  in_message_ = false;
  set_id_ = 0;
  message_records_ = 0;
}

void flow_writer::new_chunk(std::size_t at_least) {
  auto capacity = std::max(next_capacity_, at_least);
  chunk_ = std::make_shared<messages::chunk>(capacity, budgets_);
  size_ = 0;
}

void flow_writer::flush() {
  end_message();
  if (!chunk_)
    return;
  // A flushed chunk says how much one round brings: size the next one to it.
  if (size_ > 0)
    next_capacity_ = std::clamp(std::bit_ceil(size_), min_chunk, max_chunk);
  emit_chunk();
}

void flow_writer::emit_chunk() {
  auto c = std::move(chunk_);
  chunk_.reset();
  auto n = size_;
  size_ = 0;
  if (!c || n == 0)
    return; // an empty chunk releases its credit here
  c->set_size(n);
  if (in_request_)
    held_.push_back(std::move(c));
  else
    emit_(std::move(c));
}

} // namespace fa::rpc
