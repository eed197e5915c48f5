"""Beyond one machine: covariance fits on Ray Data (:mod:`.ray_fit`), batch embedding into
LanceDB tables on a Ray actor pool (:mod:`.ray_embed`, with the reading and connecting in
:mod:`.ray_io`), and the HTTP API as Ray Serve replicas (:mod:`.ray_serve`). Each module
imports Ray only when used; training on several processes is :mod:`jointspace.train.distributed`
and the compressed index :mod:`jointspace.index.compressed`."""
