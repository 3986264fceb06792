#!/bin/sh
# Runs inside the node image being built (see build-im-node-image.sh). What IM needs
# on a node it contextualizes without internet access (IM 2.0's
# contextualization/conf-ansible.yml and IM/CtxtAgentBase.py):
#   - the apt packages conf-ansible.yml installs: wget sshpass openssh-client unzip
#   - /var/tmp/.mamba/bin/micromamba (a stand-in, see ./micromamba)
#   - /var/tmp/.mamba/envs/ansible: Python with ansible==9.5.1 (conf-ansible's
#     DEFAULT_ANSIBLE_VERSION) and the agent's modules: paramiko psutil pyyaml
#     jmespath scp requests (conf-ansible's `micromamba create` list) and packaging
# plus, for these tests, a login user with passwordless sudo and sshd enabled.
set -eu
LOGIN_USER=$1
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-venv wget sshpass openssh-client unzip >/dev/null
python3 -m venv /var/tmp/.mamba/envs/ansible
/var/tmp/.mamba/envs/ansible/bin/pip install --quiet --no-index --find-links /wheels \
  ansible==9.5.1 paramiko psutil pyyaml jmespath scp requests packaging
install -D -m 0755 /build/micromamba /var/tmp/.mamba/bin/micromamba
useradd --create-home --shell /bin/bash "$LOGIN_USER"
install -d -m 0700 -o "$LOGIN_USER" -g "$LOGIN_USER" "/home/$LOGIN_USER/.ssh"
echo "$LOGIN_USER ALL=(ALL) NOPASSWD:ALL" > "/etc/sudoers.d/90-$LOGIN_USER"
chmod 0440 "/etc/sudoers.d/90-$LOGIN_USER"
systemctl enable ssh >/dev/null 2>&1 || true
# Key-only login (IM logs in with the key given in the site).
printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\n' > /etc/ssh/sshd_config.d/90-key-only.conf
apt-get clean
