--[[ judge_gan_test.lua: GAN-test accuracy of a finished examples/19 run by a judge — a CNN trained like the auditor
that no feedback ever saw — for runs made before the recipe trained one (2026-12-05). It rebuilds the run's
averaged generator from `from`/checkpoints/generator.safetensors, draws the same samples as the recipe
(`generate{per_class = per_class, seed = run.seed}`), and checks them first: the run's own auditor
(`from`/checkpoints/auditor-best.safetensors) must give the run's recorded GAN-test accuracy on them (`recorded`,
from its summary.json). Then a judge trains on the auditor's images (the training set less the last `holdout`)
with the auditor's protocol and epochs, from the random state of seed run.seed + `judge_offset`, and scores the
same samples.
Run:  .build/release/lucerna run scripts/probes/judge_gan_test.lua --seed S --threads 1 --set from=RUN/seed-S
        --set dataset=fashion_mnist --set recorded=0.9552 [--set attention=0 for the plain model's generator]
      The defaults are examples/19's medium setting (latent 64, channels 64/32, attention at 7×7, 1,000 samples a
      class, holdout 10,000, five auditor epochs). ]]

local config = lucerna.config{from = "", dataset = "mnist", recorded = -1, latent = 64, generator_channels = {64, 32},
                              attention = 7, per_class = 1000, holdout = 10000, auditor_epochs = 5,
                              judge_offset = 5000}
assert(config.from ~= "", "give the run's seed folder: --set from=RUN/seed-S")
lucerna.manual_seed(run.seed)
local train_set = data[config.dataset]{split = "train"}
local test_set = data[config.dataset]{split = "test"}
local count = train_set.labels:numel()
local auditor_set = {images = train_set.images:narrow(1, 1, count - config.holdout),
                     labels = train_set.labels:narrow(1, 1, count - config.holdout)}
local protocol = {optimizer = {type = "adamw", lr = 1e-3, weight_decay = 1e-2}, schedule = "cosine", batch = 64,
                  validation = 0.2}

local generator = models.cgan_generator{latent = config.latent, channels = config.generator_channels,
                                        attention = config.attention > 0 and {resolution = config.attention} or false}
generator:load(config.from .. "/checkpoints/generator.safetensors")
local drawn = generate{generator = generator, per_class = config.per_class, seed = run.seed}

local function gan_test(classifier)
   local metric = metrics.gan_test_accuracy{classifier = classifier}
   metric:update(drawn.images, drawn.labels)
   return metric:compute(), metric:report()
end

local auditor = models.cnn{}
auditor:load(config.from .. "/checkpoints/auditor-best.safetensors")
auditor:eval()
local auditor_test = gan_test(auditor)
print(("the run's auditor on the redrawn samples: GAN-test %.4f (recorded %.4f)"):format(auditor_test, config.recorded))
assert(config.recorded < 0 or math.abs(auditor_test - config.recorded) < 1e-9,
       "the redrawn samples are not the run's: check --seed, dataset and the generator's settings")

lucerna.manual_seed(run.seed + config.judge_offset)
local judge = models.cnn{}
train(lucerna.merge(protocol, {name = "judge", model = judge, data = auditor_set, epochs = config.auditor_epochs}))
local judge_accuracy = evaluate{model = judge, data = test_set, name = "judge_test"}.accuracy
local judge_test, report = gan_test(judge)
run.log{phase = "summary", gan_test_accuracy = auditor_test, gan_test_accuracy_judge = judge_test,
        gan_test_worst_class_accuracy_judge = report.worst_class_accuracy, judge_accuracy = judge_accuracy}
print(("GAN-test accuracy by the judge %.4f (worst class %.4f; the judge on real test images %.4f)")
      :format(judge_test, report.worst_class_accuracy, judge_accuracy))
