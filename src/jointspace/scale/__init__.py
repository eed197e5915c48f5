"""Beyond one machine: fits on Ray Data (:mod:`.ray_fit`). Each module imports its engine
(Ray, torch.distributed) only when used."""
