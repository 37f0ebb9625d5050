import pytest
from dolmen.proxy.config import ProxyConfig, load_proxy_config, load_s3_config

from dolmen.errors import ConfigError


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "proxy.toml"
    path.write_text(
        '[proxy]\nbind_port = 9000\nworkers = 2\npolicy_file = "policy.json"\n[cluster]\nring_dir = "r"\n'
    )
    config = load_proxy_config(path)
    assert config.bind_port == 9000 and config.worker_count == 2
    assert config.policy_file == tmp_path / "policy.json"
    assert ProxyConfig().worker_count >= 1


def test_the_s3_table_sits_beside_the_proxy_table(tmp_path):
    path = tmp_path / "proxy.toml"
    path.write_text('[proxy]\nbind_port = 9000\n[s3]\nbind_port = 9002\ndomain = "s3.example"\n')
    config = load_s3_config(path)
    assert (config.bind_port, config.domain, config.region) == (9002, "s3.example", "us-east-1")
    assert load_proxy_config(path).bind_port == 9000
    path.write_text("[proxy]\n")
    assert load_s3_config(path).bind_port == 8443  # absent: the defaults
    path.write_text("[s3]\nregion = 'no region'\n")
    with pytest.raises(ConfigError):
        load_s3_config(path)


@pytest.mark.parametrize(
    "text",
    [
        "[proxy]\nbind_port = 'x'\n",
        "[proxy]\nnope = 1\n",
        "[other]\n",
        "[proxy]\nworkers = -1\n",
        "x = 1\n",
        "[proxy",
    ],
)
def test_bad_files_refuse_to_start(tmp_path, text):
    path = tmp_path / "proxy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_proxy_config(path)
