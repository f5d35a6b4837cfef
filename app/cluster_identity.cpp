#include "app/cluster_identity.hpp"

#include "config/cluster_id.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fa::app {

std::string resolve_cluster_id(const std::string& configured, std::string& where) {
  if (!configured.empty()) {
    where = "config";
    return configured;
  }
  const char* dir_env = std::getenv("FA_STATE_DIR");
  std::filesystem::path dir = dir_env && *dir_env ? dir_env : "/var/lib/flow-aggregator";
  auto file = dir / "cluster-id";
  {
    std::ifstream in{file};
    std::string id;
    if (in && std::getline(in, id) && config::parse_uuid(id)) {
      where = file.string();
      return id;
    }
  }
  auto id = config::generate_cluster_uuid();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::ofstream out{file};
  if (out && (out << id << '\n'))
    where = "generated, stored in " + file.string();
  else
    where = "generated for this run only (cannot write " + file.string() + ")";
  return id;
}

} // namespace fa::app
