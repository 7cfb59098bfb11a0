"""The rendered site with the real Nginx: `nginx -t` accepts it, and configure-nginx reloads
Nginx only with a site that passed the check (a refused one is taken back)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx2
import pytest

from service.deploy.host import Host
from service.deploy.nginx import NginxLayout, configure_nginx
from service.deploy.plan import DeployError, Deployment
from service.deploy.render import render_site
from tests.deploy.nginx_server import (
    NginxPrefix,
    install_site,
    nginx_prefix,
    running,
    wait_for_ports,
)
from tests.deploy.samples import port_of, sample_deployment, self_signed_certificate


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_nginx_accepts_the_site(tmp_path: Path, https: bool) -> None:
    tls = {}
    if https:
        chain, key = self_signed_certificate(tmp_path / "live")
        tls = {"TLS_CERTIFICATE": str(chain), "TLS_CERTIFICATE_KEY": str(key)}
    nginx = nginx_prefix(tmp_path / "nginx")
    install_site(nginx, render_site(sample_deployment(tmp_path, **tls)))
    checked = nginx.test()
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    assert "warn" not in checked.stderr


# The listen lines of Ubuntu's stock site (/etc/nginx/sites-available/default), enabled
# until the operator removes it.
UBUNTU_DEFAULT_SITE = """\
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    root /var/www/html;
    server_name _;
}
"""


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_the_production_site_lives_beside_ubuntus_default_site(tmp_path: Path, https: bool) -> None:
    """Ports 80 and 443 on IPv4 and IPv6, as rendered for a server (`nginx -t` binds none)."""
    tls = {}
    if https:
        chain, key = self_signed_certificate(tmp_path / "live")
        tls = {"TLS_CERTIFICATE": str(chain), "TLS_CERTIFICATE_KEY": str(key)}
    planned = sample_deployment(tmp_path, **tls)
    production = replace(
        planned, http_listen=Deployment.http_listen, https_listen=Deployment.https_listen
    )
    nginx = nginx_prefix(tmp_path / "nginx")
    install_site(nginx, UBUNTU_DEFAULT_SITE, name="default.conf")
    install_site(nginx, render_site(production))
    checked = nginx.test()
    assert checked.returncode == 0, checked.stderr


def layout_of(nginx: NginxPrefix) -> NginxLayout:
    return NginxLayout(
        sites_available=nginx.prefix / "sites-available",
        sites_enabled=nginx.sites,
        main_config=nginx.config,
        test=tuple(nginx.command("-t")),
        reload=tuple(nginx.command("-s", "reload")),
    )


def configure(deployment: Deployment, nginx: NginxPrefix, *, dry_run: bool = False) -> str:
    said: list[str] = []
    configure_nginx(deployment, Host(dry_run=dry_run, say=said.append), layout_of(nginx))
    return "\n".join(said)


def test_configure_nginx_reloads_only_a_site_that_passed_the_check(tmp_path: Path) -> None:
    nginx = nginx_prefix(tmp_path / "nginx")
    deployment = sample_deployment(tmp_path)
    port = port_of(deployment.http_listen)
    site = nginx.prefix / "sites-available" / "beacon.conf"

    said = configure(deployment, nginx, dry_run=True)
    assert "would write" in said
    assert not site.exists()

    with running(nginx) as process:  # no site yet: Nginx listens nowhere
        said = configure(deployment, nginx)
        assert "nginx -t: the configuration is valid" in said
        assert (nginx.sites / "beacon.conf").resolve() == site
        # Reloaded: Nginx now serves the site, static files first.
        wait_for_ports(process, (port,))
        static = httpx2.get(f"http://127.0.0.1:{port}/static/css/app.css", headers={"Host": "x"})
        assert static.status_code == 200

        assert "not reloaded" in configure(deployment, nginx)  # nothing changed: nothing done

        # A site Nginx refuses (here another site already defines its upstream) is taken
        # back, and Nginx goes on serving the previous one.
        (nginx.sites / "other.conf").write_text("upstream beacon_web { server 127.0.0.1:9; }\n")
        moved = replace(deployment, acme_root=tmp_path / "elsewhere")
        with pytest.raises(DeployError) as refused:
            configure(moved, nginx)
        assert "the previous site is back" in refused.value.problems[0]
        assert any("duplicate upstream" in line for line in refused.value.problems)
        assert site.read_text() == render_site(deployment)
        assert httpx2.get(f"http://127.0.0.1:{port}/static/css/app.css").status_code == 200


def test_a_missing_certificate_is_refused_before_nginx_sees_it(tmp_path: Path) -> None:
    nginx = nginx_prefix(tmp_path / "nginx")
    deployment = sample_deployment(
        tmp_path,
        TLS_CERTIFICATE="/etc/letsencrypt/live/nowhere.test/fullchain.pem",
        TLS_CERTIFICATE_KEY="/etc/letsencrypt/live/nowhere.test/privkey.pem",
    )
    with pytest.raises(DeployError) as refused:
        configure(deployment, nginx)
    assert (
        "TLS_CERTIFICATE=/etc/letsencrypt/live/nowhere.test/fullchain.pem does not exist"
        in (refused.value.problems[0])
    )
    assert not any(nginx.sites.iterdir())
