"""The deployment kit: systemd units and the Nginx site rendered from the settings, and the
steps that install them (`python -m service.deploy STEP`, behind the scripts in deploy/).

plan.py     what a deployment is made of, and the settings it refuses
render.py   the files, from the templates in deploy/templates/
host.py     every change to the machine, or what it would be (--dry-run)
install.py  packages, the service user, private settings, the virtual environment
nginx.py    the site: write, `nginx -t`, reload only if the test passed
units.py    the units: write, daemon-reload, enable
rollout.py  restarts, one instance at a time or all at once, and the logs
"""
