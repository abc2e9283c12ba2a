"""Where a data-parallel rank stands (task train_ddp): its number, its peers' addresses and the
interface its collectives bind to, from the environment `fwbench ddp-launch` sets
(docs/protocol.md, "Data-parallel training")."""
import os

from .protocol import UsageError


class Peers:
    def __init__(self, spec):
        world = spec["ddp"]["processes"]
        how = "run train_ddp trials through `fwbench run` or `fwbench ddp-launch`"
        try:
            self.rank = int(os.environ.get("FWBENCH_DDP_RANK", ""))
        except ValueError:
            raise UsageError(f"FWBENCH_DDP_RANK is {os.environ.get('FWBENCH_DDP_RANK')!r}, not a "
                             f"rank number; {how}") from None
        if not 0 <= self.rank < world:
            raise UsageError(f"FWBENCH_DDP_RANK {self.rank} is outside 0..{world - 1}")
        self.addrs = [a for a in os.environ.get("FWBENCH_DDP_ADDRS", "").split(",") if a]
        if len(self.addrs) != world:
            raise UsageError(f"FWBENCH_DDP_ADDRS names {len(self.addrs)} rank addresses, not "
                             f"{world}; {how}")
        self.world = world
        self.hosts = spec["ddp"]["hosts"]
        self.ifname = os.environ.get("FWBENCH_DDP_IFNAME", "lo")

    @property
    def master(self):
        host, port = self.addrs[0].rsplit(":", 1)
        return host, int(port)

    def hello(self, collectives):
        return {"rank": self.rank, "processes": self.world, "hosts": self.hosts,
                "collectives": collectives}
