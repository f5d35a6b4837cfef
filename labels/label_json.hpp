#pragma once

// Pod labels as the JSON text Antrea puts in sourcePodLabels / destinationPodLabels
// (antrea-proxy-semantics.md 4).

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fa::labels {

using label_list = std::vector<std::pair<std::string, std::string>>;

/// Encodes `labels` the way Go's `encoding/json` marshals a `map[string]string`:
/// compact, keys sorted byte-wise, HTML-safe escaping (`<` `>` `&` as `\u003c` ...),
/// U+2028/U+2029 escaped, and each byte of ill-formed UTF-8 replaced by `\ufffd`.
/// A key given twice keeps its last value, as a Go map would. No labels -> `{}`.
std::string encode_labels_json(const label_list& labels);

/// The same for labels already held in a sorted map.
std::string encode_labels_json(const std::map<std::string, std::string>& labels);

/// Appends `s` as a JSON string literal (with quotes), escaped as above.
void append_json_string(std::string& out, std::string_view s);

} // namespace fa::labels
