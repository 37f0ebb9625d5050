"""Compute: a Nova subset (flavors, instances, scheduler, libvirt agent, volume attach)."""
