"""EEG2VideoGenerator: fit / predict / transform, save-load, DANA, pipeline."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sk_eeg.datasets import make_eeg_video

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from sk_eeg.video import EEG2VideoGenerator  # noqa: E402

# Raw EEG, full-resolution UNet, sampling from noise: every part runs.
TINY = dict(
    encoder="mlp", features=None, window_length=None, emb_dim=16, n_tokens=2,
    cross_attention_dim=16, unet_channels=(8, 16), attention_head_dim=2,
    patch_size=1, max_epochs=1, encoder_epochs=2, num_inference_steps=2,
    init_strength=1.0, batch_size=4, device="cpu", n_jobs=1, random_state=0,
)  # fmt: skip


@pytest.fixture(scope="module")
def sim():
    return make_eeg_video(
        n_blocks=1, n_classes=2, n_clips=3, n_frames=4, height=8, width=8,
        n_channels=4, sfreq=100.0, random_state=0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fitted(sim):
    return EEG2VideoGenerator(**TINY).fit(sim.X, sim.videos, labels=sim.y)


def test_fit_predict_transform_shapes_and_dtypes(sim, fitted):
    videos = fitted.predict(sim.X[:2])
    assert videos.shape == (2, 4, 8, 8, 3) and videos.dtype == np.uint8
    emb = fitted.transform(sim.X)
    assert emb.shape == (6, 16) and np.all(np.isfinite(emb))
    assert fitted.n_features_in_ == 4 and fitted.video_shape_ == (4, 8, 8)
    assert len(fitted.loss_curve_) == 1 and np.isfinite(fitted.loss_curve_[0])
    assert list(fitted.classes_) == [0, 1]
    ssim = fitted.score(sim.X, sim.videos)
    assert -1 <= ssim <= 1


def test_fixed_seed_gives_identical_samples_and_other_seeds_differ(sim, fitted):
    a = fitted.predict(sim.X[:2])
    b = fitted.predict(sim.X[:2])
    np.testing.assert_array_equal(a, b)
    c = fitted.predict(sim.X[:2], random_state=123)
    assert not np.array_equal(a, c)


def test_each_clip_sample_depends_only_on_its_eeg_and_the_seed(sim, fitted):
    batch = fitted.predict(sim.X)
    for i in range(len(sim.X)):
        np.testing.assert_array_equal(fitted.predict(sim.X[i : i + 1])[0], batch[i])
    order = np.array([4, 1, 5, 0, 3, 2])
    np.testing.assert_array_equal(fitted.predict(sim.X[order]), batch[order])
    # Different EEG gets different noise: two clips of the same class differ.
    assert not np.array_equal(batch[0], batch[1])


def test_same_seed_gives_the_same_fit_and_leaves_global_rng_alone(sim):
    # The encoder's dropout draws from torch's global RNG (the CUDA one on a
    # GPU): fit seeds it from random_state inside a forked state.
    state = torch.random.get_rng_state()
    first = EEG2VideoGenerator(**TINY).fit(sim.X, sim.videos)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = EEG2VideoGenerator(**TINY).fit(sim.X, sim.videos)
    assert first.loss_curve_ == second.loss_curve_
    np.testing.assert_array_equal(first.transform(sim.X), second.transform(sim.X))


def test_save_load_round_trip_reproduces_samples(sim, fitted, tmp_path):
    path = fitted.save(tmp_path / "pipe")
    index = json.loads((path / "model_index.json").read_text())
    assert index["eeg_encoder"] == ["sk_eeg.video._encoders", "EEGConditionEncoder"]
    assert index["unet"] == ["diffusers", "UNet3DConditionModel"]
    for part in ("unet", "eeg_encoder", "scheduler"):
        assert (path / part).is_dir()
    loaded = EEG2VideoGenerator.load(path, device="cpu")
    np.testing.assert_array_equal(loaded.predict(sim.X[:3]), fitted.predict(sim.X[:3]))
    np.testing.assert_array_equal(loaded.transform(sim.X), fitted.transform(sim.X))
    assert loaded.get_params()["unet_channels"] == (8, 16)
    # pretrained_path with no further training is the same model.
    again = EEG2VideoGenerator(
        **{**TINY, "pretrained_path": str(path), "max_epochs": 0, "encoder_epochs": 0}
    )
    again.fit(sim.X, sim.videos)
    assert again.video_shape_ == fitted.video_shape_
    np.testing.assert_array_equal(again.predict(sim.X[:2]), fitted.predict(sim.X[:2]))


def test_float_videos_and_de_features_with_vae(sim, tmp_path):
    gen = EEG2VideoGenerator(
        **{**TINY, "encoder": "glmnet", "local_channels": [2, 3],
           "features": "de", "init_strength": 0.5},
        sfreq=sim.sfreq, bands=((4, 8), (8, 14), (30, 45)), use_vae=True,
        vae_channels=(8, 8), vae_epochs=1, dana_beta=0.3, guidance_scale=2.0,
    )  # fmt: skip
    gen.fit(sim.X, sim.videos / 255.0)
    out = gen.predict(sim.X[:2])
    assert out.dtype != np.uint8 and out.shape == (2, 4, 8, 8, 3)
    assert 0 <= out.min() and out.max() <= 1
    assert tuple(gen.pipeline_.eeg_encoder.config.latent_shape) == (4, 4, 4, 4)
    path = gen.save(tmp_path / "vae_pipe")
    assert (path / "vae").is_dir()
    np.testing.assert_array_equal(EEG2VideoGenerator.load(path).predict(sim.X[:2]), out)


def test_videos_are_resampled_to_the_requested_size(sim):
    gen = EEG2VideoGenerator(**{**TINY, "frames": 2, "height": 4, "width": 4})
    gen.set_params(unet_channels=(8,))
    out = gen.fit(sim.X, sim.videos).predict(sim.X[:1])
    assert out.shape == (1, 2, 4, 4, 3)


def test_patches_fold_losslessly_into_channels(sim):
    gen = EEG2VideoGenerator(**{**TINY, "patch_size": 2, "unet_channels": (8,)})
    gen.fit(sim.X, sim.videos)
    pipe = gen.pipeline_
    assert pipe.patch_size == 2 and pipe.unet.config.in_channels == 12
    assert tuple(pipe.eeg_encoder.config.latent_shape) == (12, 4, 4, 4)
    clips = torch.rand(2, 3, 4, 8, 8) * 2 - 1
    latents = pipe.encode_latents(clips)
    assert latents.shape == (2, 12, 4, 4, 4)
    torch.testing.assert_close(pipe.decode_latents(latents), clips, rtol=0, atol=0)
    assert gen.predict(sim.X[:1]).shape == (1, 4, 8, 8, 3)


def test_defaults_are_the_cpu_preset_and_from_preset_builds_the_gpu_one():
    from sk_eeg.video import EEG2VIDEO_PRESETS

    defaults = EEG2VideoGenerator().get_params()
    cpu, gpu = EEG2VIDEO_PRESETS["cpu"], EEG2VIDEO_PRESETS["gpu"]
    assert set(cpu) == set(gpu)
    assert {key: defaults[key] for key in cpu} == cpu
    assert EEG2VideoGenerator.from_preset("cpu").get_params() == defaults
    built = EEG2VideoGenerator.from_preset("gpu", max_epochs=3, device="cpu")
    params = built.get_params()
    assert {key: params[key] for key in gpu} == {**gpu, "max_epochs": 3}
    assert params["encoder"] == "glmnet" and params["device"] == "cpu"
    with pytest.raises(ValueError, match="preset"):
        EEG2VideoGenerator.from_preset("tpu")


def test_default_configuration_fits_de_features_on_patches(sim):
    # The defaults with fewer epochs and a one-level UNet: DE features of 1 s
    # windows, 4 x 4 patches, one DDIM step from the latent prediction.
    gen = EEG2VideoGenerator(
        sfreq=sim.sfreq, bands=((4, 8), (8, 14), (30, 45)), unet_channels=(8,),
        encoder_epochs=2, max_epochs=1, device="cpu", n_jobs=1, random_state=0,
    ).fit(sim.X, sim.videos, labels=sim.y)  # fmt: skip
    config = gen.pipeline_.eeg_encoder.config
    assert config.features == "de" and config.window_length == 1.0
    assert gen.pipeline_.patch_size == 4
    assert tuple(config.latent_shape) == (48, 4, 2, 2)
    assert gen.transform(sim.X).shape == (6, 64)
    videos = gen.predict(sim.X)
    assert videos.shape == sim.videos.shape and videos.dtype == np.uint8
    np.testing.assert_array_equal(gen.predict(sim.X[:1])[0], videos[0])


def test_dana_noise_mixes_shared_and_frame_noise():
    from sk_eeg.video._diffusion import dana_noise

    g = torch.Generator().manual_seed(0)
    shape = (400, 1, 4, 8, 8)
    iid = dana_noise(shape, 0.0, g)
    shared = dana_noise(shape, 1.0, g)
    mixed = dana_noise(shape, 0.3, g)
    # beta = 1: identical frames; beta = 0: uncorrelated frames.
    torch.testing.assert_close(shared[:, :, 0], shared[:, :, 3])

    def corr(z):
        pair = torch.stack([z[:, :, 0].flatten(), z[:, :, 1].flatten()])
        return torch.corrcoef(pair)[0, 1]

    assert abs(corr(iid)) < 0.02
    assert abs(corr(mixed) - 0.3) < 0.02  # frame correlation equals beta
    for z in (iid, shared, mixed):
        assert abs(z.var().item() - 1) < 0.02  # unit variance for any beta
    with pytest.raises(ValueError, match="dana_beta"):
        dana_noise(shape, 1.5, g)


def test_bad_input_is_rejected_with_the_fix(sim):
    gen = EEG2VideoGenerator(**TINY)
    with pytest.raises(ValueError, match="n_frames, height, width, 3"):
        gen.fit(sim.X, sim.y)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gen.fit(sim.X, sim.videos * 2.0)
    with pytest.raises(ValueError, match="latent_predictor"):
        EEG2VideoGenerator(latent_predictor=False, init_strength=0.5).fit(
            sim.X, sim.videos
        )
    with pytest.raises(ValueError, match="multiples"):
        EEG2VideoGenerator(**{**TINY, "height": 5}).fit(sim.X, sim.videos)
    with pytest.raises(FileNotFoundError, match="model_index"):
        EEG2VideoGenerator(pretrained_path="/nonexistent").fit(sim.X, sim.videos)


def test_pipeline_components_are_all_saveable():
    from diffusers import ConfigMixin, ModelMixin

    from sk_eeg.video._encoders import EEGConditionEncoder, EEGEncoder

    for cls in (EEGConditionEncoder, EEGEncoder):
        assert issubclass(cls, ModelMixin) and issubclass(cls, ConfigMixin)


@pytest.mark.parametrize("use_vae", [False, True])
def test_training_step_runs_on_the_pipeline_device(use_vae):
    # The "meta" device stands in for CUDA without a GPU: a buffer or tensor
    # left on the CPU would raise a device mismatch. The steps of fit's loop.
    from sk_eeg.video._diffusion import build_schedulers, dana_noise

    gen = EEG2VideoGenerator(
        **{**TINY, "encoder": "glmnet", "features": "de", "window_length": 1.0,
           "patch_size": 2, "use_vae": use_vae, "vae_channels": (8, 16)}
    )  # fmt: skip
    dev = torch.device("meta")
    pipe = gen._build_pipeline(4, 200, 2, (4, 8, 8)).to(dev)
    assert pipe._execution_device == dev
    z0 = pipe.encode_latents(torch.zeros(3, 3, 4, 8, 8, device=dev))
    emb = pipe.eeg_encoder.embed(torch.zeros(3, 4, 200, device=dev))
    cond = pipe.eeg_encoder.tokens(emb)
    generator = torch.Generator().manual_seed(0)
    keep = torch.rand(3, generator=generator) >= 0.5
    cond = cond * keep.to(cond)[:, None, None]
    noise = dana_noise(z0.shape, 0.3, generator, device=dev)
    t = torch.randint(0, 1000, (3,), generator=generator).to(dev)
    noisy = build_schedulers(1000, "squaredcos_cap_v2")[0].add_noise(z0, noise, t)
    eps = pipe.unet(noisy, t, encoder_hidden_states=cond).sample
    labels = torch.zeros(3, dtype=torch.long, device=dev)
    loss = (
        torch.nn.functional.mse_loss(eps, noise)
        + torch.nn.functional.mse_loss(pipe.eeg_encoder.predict_latents(emb), z0)
        + torch.nn.functional.cross_entropy(pipe.eeg_encoder.classify(emb), labels)
    )
    loss.backward()
    assert loss.device == dev and pipe.decode_latents(z0).shape == (3, 3, 4, 8, 8)


@pytest.mark.gpu
def test_generator_trains_and_samples_on_cuda(sim, tmp_path):
    gen = EEG2VideoGenerator(**{**TINY, "device": "cuda"}).fit(sim.X, sim.videos)
    assert gen.device_.type == "cuda"
    out = gen.predict(sim.X[:2])
    assert out.shape == (2, 4, 8, 8, 3)
    path = gen.save(tmp_path / "p")
    loaded = EEG2VideoGenerator.load(path, device="cuda")
    np.testing.assert_array_equal(loaded.predict(sim.X[:2]), out)
    on_cpu = EEG2VideoGenerator.load(path, device="cpu")
    assert next(on_cpu.pipeline_.unet.parameters()).device.type == "cpu"
    assert on_cpu.predict(sim.X[:2]).shape == out.shape


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_saved_generator_loads_in_a_fresh_process(sim, tmp_path, device):
    # A new interpreter has not imported sk_eeg.video's torch modules, and
    # with accelerate installed diffusers would load on the "meta" device.
    pytest.importorskip("accelerate")
    gen = EEG2VideoGenerator(
        **{
            **TINY,
            "encoder": "glmnet",
            "local_channels": [2, 3],
            "device": device,
            "patch_size": 2,
        },
    ).fit(sim.X, sim.videos, labels=sim.y)
    path = gen.save(tmp_path / "pipe")
    np.save(tmp_path / "X.npy", sim.X)
    code = textwrap.dedent(
        f"""
        import numpy as np
        from sk_eeg.video import EEG2VideoGenerator
        gen = EEG2VideoGenerator.load({str(path)!r}, device={device!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        np.save({str(tmp_path / "out.npy")!r}, gen.predict(X))
        np.save({str(tmp_path / "emb.npy")!r}, gen.transform(X))
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), gen.predict(sim.X))
    np.testing.assert_array_equal(np.load(tmp_path / "emb.npy"), gen.transform(sim.X))


def _state(gen):
    pipe = gen.pipeline_
    parts = [pipe.unet, pipe.eeg_encoder] + ([pipe.vae] if pipe.vae else [])
    return [t.detach().clone() for m in parts for t in m.state_dict().values()]


@pytest.mark.parametrize("interrupt_at", [1, 3, 5])
def test_interrupted_training_resumes_to_the_uninterrupted_weights(
    sim, tmp_path, monkeypatch, interrupt_at
):
    # Phases: VAE (2 epochs), encoder warm-up (2), joint (2), one checkpoint
    # per epoch; the run is killed right after checkpoint number interrupt_at
    # (mid VAE, mid warm-up, mid joint phase) and rerun.
    from sk_eeg.video import _persistence

    params = {
        **TINY, "use_vae": True, "vae_channels": (8,), "vae_epochs": 2,
        "encoder_epochs": 2, "max_epochs": 2, "dropout": 0.5,
    }  # fmt: skip
    full = EEG2VideoGenerator(**params).fit(sim.X, sim.videos, labels=sim.y)

    save = _persistence.save_checkpoint
    calls = []

    def save_then_die(*args, **kwargs):
        save(*args, **kwargs)
        calls.append(1)
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt

    monkeypatch.setattr(_persistence, "save_checkpoint", save_then_die)
    ckpt = tmp_path / "ckpt"
    gen = EEG2VideoGenerator(**params, checkpoint_dir=ckpt)
    with pytest.raises(KeyboardInterrupt):
        gen.fit(sim.X, sim.videos, labels=sim.y)
    assert (ckpt / "checkpoint.pt").exists()
    gen.fit(sim.X, sim.videos, labels=sim.y)
    assert len(calls) == 6  # the resumed run did not repeat the finished epochs
    assert gen.loss_curve_ == full.loss_curve_
    for a, b in zip(_state(gen), _state(full), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    np.testing.assert_array_equal(gen.predict(sim.X[:2]), full.predict(sim.X[:2]))
    # A checkpoint of another configuration is not silently reused.
    with pytest.raises(ValueError, match="lr"):
        EEG2VideoGenerator(**{**params, "lr": 0.5}, checkpoint_dir=ckpt).fit(
            sim.X, sim.videos, labels=sim.y
        )


@pytest.mark.parametrize(
    ("every", "minutes", "n_writes"),
    [(10, None, 2), (10, 60, 2), (10, 0, 6), (2, None, 4)],
)
def test_checkpoints_are_written_per_epochs_or_minutes(
    sim, tmp_path, monkeypatch, every, minutes, n_writes
):
    # Encoder warm-up (3 epochs) and joint phase (3): a checkpoint ends each
    # phase; checkpoint_every adds one per `every` epochs and
    # checkpoint_minutes one after each epoch ending that long after the last.
    from sk_eeg.video import _persistence

    save = _persistence.save_checkpoint
    writes = []

    def counting_save(*args, **kwargs):
        save(*args, **kwargs)
        writes.append(args[2]["epoch"])

    monkeypatch.setattr(_persistence, "save_checkpoint", counting_save)
    gen = EEG2VideoGenerator(
        **{**TINY, "encoder_epochs": 3, "max_epochs": 3},
        checkpoint_dir=tmp_path / "ckpt", checkpoint_every=every,
        checkpoint_minutes=minutes,
    )  # fmt: skip
    gen.fit(sim.X, sim.videos)
    assert len(writes) == n_writes, writes
    assert writes[-1] == 3
    with pytest.raises(ValueError, match="checkpoint_minutes"):
        gen.set_params(checkpoint_minutes=-1).fit(sim.X, sim.videos)


def test_mixed_precision_trains_and_samples(sim):
    gen = EEG2VideoGenerator(**TINY, precision="bfloat16").fit(sim.X, sim.videos)
    assert np.isfinite(gen.loss_curve_).all()
    assert gen.pipeline_.unet.dtype == torch.float32  # autocast keeps fp32 weights
    full = EEG2VideoGenerator(**TINY).fit(sim.X, sim.videos)
    assert gen.loss_curve_ != full.loss_curve_  # bfloat16 did run
    assert gen.predict(sim.X[:2]).shape == (2, 4, 8, 8, 3)
    with pytest.raises(ValueError, match="float16' needs a CUDA"):
        EEG2VideoGenerator(**TINY, precision="float16").fit(sim.X, sim.videos)
    with pytest.raises(ValueError, match="precision"):
        EEG2VideoGenerator(**TINY, precision="half").fit(sim.X, sim.videos)


@pytest.mark.parametrize("kind", ["sample", "v_prediction"])
def test_prediction_types_train_on_their_target(sim, kind, tmp_path):
    from sk_eeg.video._diffusion import build_schedulers, training_target

    ddpm, _ = build_schedulers(1000, "linear", kind)
    z0, noise = torch.randn(3, 2, 2, 4, 4), torch.randn(3, 2, 2, 4, 4)
    t = torch.tensor([10, 500, 990])
    a = ddpm.alphas_cumprod[t].sqrt().reshape(-1, 1, 1, 1, 1)
    s = (1 - ddpm.alphas_cumprod[t]).sqrt().reshape(-1, 1, 1, 1, 1)
    expected = z0 if kind == "sample" else a * noise - s * z0
    torch.testing.assert_close(training_target(ddpm, z0, noise, t), expected)
    gen = EEG2VideoGenerator(**TINY, prediction_type=kind).fit(sim.X, sim.videos)
    assert gen.pipeline_.scheduler.config.prediction_type == kind
    out = gen.predict(sim.X[:2])
    loaded = EEG2VideoGenerator.load(gen.save(tmp_path / kind), device="cpu")
    np.testing.assert_array_equal(loaded.predict(sim.X[:2]), out)
    with pytest.raises(ValueError, match="prediction_type='"):
        EEG2VideoGenerator(
            **{**TINY, "pretrained_path": str(tmp_path / kind), "max_epochs": 0}
        ).fit(sim.X, sim.videos)
