# Sourced by the test scripts: the podman settings that work on these machines
# (see shared/NOTES.md): runc (crun refuses cgroups v1) and ulimits that root
# without CAP_SYS_RESOURCE may set.
_conf_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$_conf_dir/containers.conf}
