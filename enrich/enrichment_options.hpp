#pragma once

#include <string>

namespace fa::enrich {

/// The [enrichment] section of the config, plus the cluster id it appends.
struct enrichment_options {
  bool provenance = true;                  ///< 403/404/405 on every data template
  bool antrea = true;                      ///< labels, clusterId, flowDirection on Antrea templates
  bool pod_labels = true;                  ///< fill the label fields from the Pod index
  bool fill_k8s_names = true;              ///< fill empty Pod names of InterNode records
  bool labels_for_foreign_records = false; ///< label fields on non-Antrea templates too
  std::string cluster_id;
};

} // namespace fa::enrich
