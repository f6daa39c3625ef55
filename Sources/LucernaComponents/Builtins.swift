import LucernaCore
import LucernaData
import LucernaNN

/// Every Swift component, one registration line each (Swift cannot discover types at runtime, so this
/// explicit list is the registry's source of built-ins; Lua plugins join at start-up).
public enum Builtins {
    public static let all: [ComponentEntry] = [
        // Models.
        ComponentEntry(.model, "mlp", "MLP 784-256-128-10 with ReLU (layers fc1, fc2, fc3)", reference: "Rumelhart, Hinton & Williams, 1986",
                       options: BuiltinModels.mlpOptions, build: BuiltinModels.mlp),
        ComponentEntry(.model, "cnn", "benchmark CNN: conv-relu-pool x2, fc1, relu3, fc2", reference: "LeCun et al., 1998",
                       options: BuiltinModels.cnnOptions, build: BuiltinModels.cnn),
        ComponentEntry(.model, "conv_encoder", "2-D CNN encoder for images and spectrograms: pooled vector or position tokens",
                       reference: "LeCun et al., 1998; Hershey et al., ICASSP 2017", options: BuiltinModels.convEncoderOptions, build: BuiltinModels.convEncoder),
        ComponentEntry(.model, "resnet_encoder", "small ResNet (BasicBlocks with BatchNorm) for images and spectrograms",
                       reference: "He et al., CVPR 2016", options: BuiltinModels.resnetEncoderOptions, build: BuiltinModels.resnetEncoder),
        ComponentEntry(.model, "text_cnn_encoder", "1-D convolutions over token embeddings, max over time (Kim's CNN)",
                       reference: "Kim, EMNLP 2014", options: BuiltinModels.textConvOptions, build: BuiltinModels.textConv),
        ComponentEntry(.model, "temporal_encoder", "1-D temporal CNN over spectrogram frames (mel bands as channels)",
                       reference: "Dieleman & Schrauwen, ICASSP 2014", options: BuiltinModels.temporalEncoderOptions, build: BuiltinModels.temporalEncoder),
        ComponentEntry(.model, "embedding_bag_encoder", "token embeddings, mean over real tokens (or the embeddings as tokens)",
                       reference: "Joulin et al., EACL 2017", options: BuiltinModels.embeddingBagOptions, build: BuiltinModels.embeddingBag),
        ComponentEntry(.model, "transformer_encoder", "small Transformer text encoder with learned positions and padding masks",
                       reference: "Vaswani et al., NeurIPS 2017", options: BuiltinModels.transformerOptions, build: BuiltinModels.transformer),
        ComponentEntry(.model, "multimodal_classifier", "encoders per named modality, a fusion and a head (one encoder: unimodal)",
                       reference: "Baltrušaitis et al., 2019; MultiBench", options: MultimodalClassifier.options, build: MultimodalClassifier.init),
        // Fusions.
        ComponentEntry(.fusion, "concat", "concatenate modality features, optionally project to dim",
                       reference: "Baltrušaitis et al., 2019", options: ConcatFusion.options, build: ConcatFusion.init),
        ComponentEntry(.fusion, "sum", "project each modality to dim and add", reference: "Baltrušaitis et al., 2019",
                       options: SumFusion.options, build: SumFusion.builder(averages: false)),
        ComponentEntry(.fusion, "mean", "project each modality to dim and average", reference: "Baltrušaitis et al., 2019; MultiBench",
                       options: SumFusion.options, build: SumFusion.builder(averages: true)),
        ComponentEntry(.fusion, "product", "project each modality to dim and multiply element-wise", reference: "Kim et al., ICLR 2017",
                       options: ProductFusion.options, build: ProductFusion.init),
        ComponentEntry(.fusion, "film", "one modality scales and shifts the others feature-wise (γ = 1 + Δγ)", reference: "Perez et al., AAAI 2018",
                       options: FiLMFusion.options, build: FiLMFusion.init),
        ComponentEntry(.fusion, "tensor", "outer product of the modalities with a 1 appended to each", reference: "Zadeh et al., EMNLP 2017",
                       options: TensorFusion.options, build: TensorFusion.init),
        ComponentEntry(.fusion, "low_rank_tensor", "tensor fusion with a rank-r factorised weight", reference: "Liu et al., ACL 2018",
                       options: LowRankTensorFusion.options, build: LowRankTensorFusion.init),
        ComponentEntry(.fusion, "late", "average or learned convex combination of per-modality logits", reference: "Baltrušaitis et al., 2019; MultiBench",
                       options: LateFusion.options, build: LateFusion.init),
        ComponentEntry(.fusion, "cross_attention", "MulT-style cross-modal attention between modality token sequences",
                       reference: "Tsai et al., ACL 2019", options: CrossModalAttentionFusion.options, build: CrossModalAttentionFusion.init),
        // Regularizers.
        ComponentEntry(.regularizer, "l2", "weight · sum of squared weights", reference: "Krogh & Hertz, 1992",
                       options: L2Regularizer.options, build: L2Regularizer.init),
        // Metrics.
        ComponentEntry(.metric, "accuracy", "top-k accuracy over all samples seen", reference: "torchmetrics MulticlassAccuracy",
                       options: Accuracy.options, build: Accuracy.init),
        ComponentEntry(.metric, "precision", "precision (macro, weighted, micro or binary)", reference: "scikit-learn precision_score",
                       options: ClassificationScore.options, build: ClassificationScore.builder(.precision)),
        ComponentEntry(.metric, "recall", "recall (macro, weighted, micro or binary)", reference: "scikit-learn recall_score",
                       options: ClassificationScore.options, build: ClassificationScore.builder(.recall)),
        ComponentEntry(.metric, "f1", "F1 score (macro, weighted, micro or binary); per class in report()", reference: "scikit-learn f1_score",
                       options: ClassificationScore.options, build: ClassificationScore.builder(.f1)),
        ComponentEntry(.metric, "confusion_matrix", "confusion matrix in report() (rows true, columns predicted); value = accuracy",
                       reference: "scikit-learn confusion_matrix", options: ConfusionMatrix.options, build: ConfusionMatrix.init),
        ComponentEntry(.metric, "roc_auc", "ROC AUC: binary, or one-vs-rest macro for more classes", reference: "Hanley & McNeil, 1982",
                       options: ROCAUC.options, build: ROCAUC.init),
        ComponentEntry(.metric, "ece", "expected calibration error over equal-width confidence bins", reference: "Guo et al., ICML 2017",
                       options: CalibrationError.options, build: CalibrationError.init),
        ComponentEntry(.metric, "demographic_parity_difference", "largest minus smallest group selection rate",
                       reference: "Fairlearn", options: SubgroupFairness.options, build: SubgroupFairness.builder(.demographicParityDifference)),
        ComponentEntry(.metric, "demographic_parity_ratio", "smallest over largest group selection rate",
                       reference: "Fairlearn", options: SubgroupFairness.options, build: SubgroupFairness.builder(.demographicParityRatio)),
        ComponentEntry(.metric, "equalized_odds_difference", "larger of the TPR and FPR gaps between groups",
                       reference: "Fairlearn; Hardt et al., 2016", options: SubgroupFairness.options, build: SubgroupFairness.builder(.equalizedOddsDifference)),
        ComponentEntry(.metric, "equal_opportunity_difference", "TPR gap between groups",
                       reference: "Fairlearn; Hardt et al., 2016", options: SubgroupFairness.options, build: SubgroupFairness.builder(.equalOpportunityDifference)),
        ComponentEntry(.metric, "worst_group_accuracy", "lowest accuracy over groups; per-group statistics in report()",
                       reference: "Sagawa et al., 2020", options: SubgroupFairness.options, build: SubgroupFairness.builder(.worstGroupAccuracy)),
        ComponentEntry(.metric, "bias_auc", "Borkan et al.'s subgroup, BPSN and BNSP AUCs per identity group and their Jigsaw summary",
                       reference: "Borkan et al., WWW 2019", options: BiasAUC.options, build: BiasAUC.init),
        ComponentEntry(.metric, "bootstrap", "percentile bootstrap interval around another metric (in report())",
                       reference: "Efron & Tibshirani, 1993", options: Bootstrap.options, build: Bootstrap.init),
        // Explainers: the CAM family shares one engine.
        // Attacks.
        ComponentEntry(.attack, "fgsm", "one signed-gradient step of size eps (L∞)", reference: "Goodfellow et al., ICLR 2015; torchattacks FGSM",
                       options: GradientSignAttack.fgsmOptions, build: GradientSignAttack.builder(.fgsm)),
        ComponentEntry(.attack, "fgsm_rs", "FGSM from a uniform random start in the ball, step alpha, projected",
                       reference: "Wong, Rice & Kolter, ICLR 2020; torchattacks FFGSM", options: GradientSignAttack.fgsmRandomStartOptions,
                       build: GradientSignAttack.builder(.fgsmRandomStart)),
        ComponentEntry(.attack, "bim", "iterative FGSM with projection onto the ε-ball", reference: "Kurakin et al., 2017; torchattacks BIM",
                       options: GradientSignAttack.bimOptions, build: GradientSignAttack.builder(.bim)),
        ComponentEntry(.attack, "pgd", "projected gradient descent in the L∞ or L2 ball, random start and restarts",
                       reference: "Madry et al., ICLR 2018; torchattacks PGD / PGDL2", options: GradientSignAttack.pgdOptions,
                       build: GradientSignAttack.builder(.pgd)),
        ComponentEntry(.attack, "deepfool", "steps to the nearest linearised decision boundary (minimal L2)",
                       reference: "Moosavi-Dezfooli et al., CVPR 2016; torchattacks DeepFool", options: DeepFool.options, build: DeepFool.init),
        ComponentEntry(.attack, "cw", "Carlini-Wagner L2 with Adam in tanh space and a binary search over c",
                       reference: "Carlini & Wagner, IEEE S&P 2017; torchattacks CW", options: CarliniWagner.options, build: CarliniWagner.init),
        ComponentEntry(.attack, "apgd_ce", "auto-PGD on the cross-entropy: step-size schedule without parameters, momentum, restarts",
                       reference: "Croce & Hein, ICML 2020; torchattacks APGD", options: AutoPGD.options(loss: .crossEntropy), build: AutoPGD.builder(.crossEntropy)),
        ComponentEntry(.attack, "apgd_dlr", "auto-PGD on the difference-of-logits ratio (shift- and scale-invariant)",
                       reference: "Croce & Hein, ICML 2020; torchattacks APGD(loss='dlr')", options: AutoPGD.options(loss: .differenceOfLogitsRatio),
                       build: AutoPGD.builder(.differenceOfLogitsRatio)),
        ComponentEntry(.attack, "square", "score-based random search over square windows (no gradients), L∞",
                       reference: "Andriushchenko et al., ECCV 2020; torchattacks Square", options: SquareAttack.options, build: SquareAttack.init),
        ComponentEntry(.attack, "embedding_pgd", "PGD on the embeddings of a token model's real tokens (per-token L2 or L∞ ball); perturb returns the nearest tokens",
                       reference: "Miyato et al., ICLR 2017; Zhu et al. (FreeLB), ICLR 2020", options: EmbeddingPGD.options, build: EmbeddingPGD.init),
        ComponentEntry(.attack, "word_substitution", "greedy token substitution by deletion importance under a token budget (TextFooler's search)",
                       reference: "Jin et al. (TextFooler), AAAI 2020", options: WordSubstitution.options, build: WordSubstitution.init),
        ComponentEntry(.attack, "mifgsm", "momentum iterative FGSM", reference: "Dong et al., CVPR 2018; torchattacks MIFGSM",
                       options: GradientSignAttack.mifgsmOptions, build: GradientSignAttack.builder(.mifgsm)),
        ComponentEntry(.explainer, "grad_cam", "Grad-CAM: channels weighted by the mean gradient", reference: "Selvaraju et al., ICCV 2017",
                       options: ClassActivationMap.options, build: ClassActivationMap.builder(.gradCAM)),
        ComponentEntry(.explainer, "grad_cam_pp", "Grad-CAM++ (closed form, as pytorch-grad-cam; exact = true: higher-order derivatives)", reference: "Chattopadhay et al., WACV 2018",
                       options: ClassActivationMap.plusPlusOptions, build: ClassActivationMap.builder(.gradCAMPlusPlus)),
        ComponentEntry(.explainer, "xgrad_cam", "XGrad-CAM: gradients weighted by normalised activations", reference: "Fu et al., BMVC 2020",
                       options: ClassActivationMap.options, build: ClassActivationMap.builder(.xgradCAM)),
        ComponentEntry(.explainer, "layer_cam", "Layer-CAM: element-wise positive gradients times activations", reference: "Jiang et al., IEEE TIP 2021",
                       options: ClassActivationMap.options, build: ClassActivationMap.builder(.layerCAM)),
        ComponentEntry(.explainer, "score_cam", "Score-CAM: channels weighted by the score of the input masked by each", reference: "Wang et al., CVPR-W 2020",
                       options: ClassActivationMap.options, build: ClassActivationMap.builder(.scoreCAM)),
        ComponentEntry(.explainer, "eigen_cam", "Eigen-CAM: first principal component of the activations", reference: "Muhammad & Yeasin, IJCNN 2020",
                       options: ClassActivationMap.options, build: ClassActivationMap.builder(.eigenCAM)),
        ComponentEntry(.explainer, "saliency", "|gradient| of the target score with respect to the input", reference: "Simonyan et al., ICLR-W 2014; Captum Saliency",
                       options: Saliency.options, build: Saliency.init),
        ComponentEntry(.explainer, "integrated_gradients", "path integral of gradients from a baseline (Gauss-Legendre or Riemann rules)",
                       reference: "Sundararajan et al., ICML 2017; Captum IntegratedGradients", options: IntegratedGradients.options, build: IntegratedGradients.init),
        ComponentEntry(.explainer, "smoothgrad", "mean saliency over noisy copies of the input", reference: "Smilkov et al., 2017; Captum NoiseTunnel",
                       options: SmoothGrad.options, build: SmoothGrad.init),
        ComponentEntry(.explainer, "occlusion", "drop of the target score when a sliding window is occluded", reference: "Zeiler & Fergus, ECCV 2014; Captum Occlusion",
                       options: Occlusion.options, build: Occlusion.init),
        ComponentEntry(.explainer, "lrp", "layer-wise relevance propagation with a composite of rules (BatchNorm canonised)",
                       reference: "Bach et al., PLoS ONE 2015; Zennit", options: LayerwiseRelevancePropagation.options, build: LayerwiseRelevancePropagation.init),
        // LRP rules and composites.
        ComponentEntry(.rule, "epsilon", "LRP-ε: relevance in proportion to contributions, denominator stabilised by ε",
                       reference: "Bach et al., PLoS ONE 2015; Zennit Epsilon", options: RelevanceRules.epsilonOptions, build: RelevanceRules.buildEpsilon),
        ComponentEntry(.rule, "gamma", "LRP-γ: positive contributions boosted by γ (generalised for negative inputs)",
                       reference: "Montavon et al., 2019; Andéol et al., 2021; Zennit Gamma", options: RelevanceRules.gammaOptions, build: RelevanceRules.buildGamma),
        ComponentEntry(.rule, "z_plus", "LRP-z⁺: positive contributions only (alpha 1, beta 0)",
                       reference: "Montavon et al., Pattern Recognition 2017; Zennit ZPlus", options: RelevanceRules.stabilizerOptions, build: RelevanceRules.buildZPlus),
        ComponentEntry(.rule, "alpha_beta", "LRP-αβ: α · positive − β · negative contributions",
                       reference: "Bach et al., PLoS ONE 2015; Zennit AlphaBeta", options: RelevanceRules.alphaBetaOptions, build: RelevanceRules.buildAlphaBeta),
        ComponentEntry(.rule, "flat", "LRP-flat: relevance spread uniformly over the receptive field",
                       reference: "Lapuschkin et al., Nature Communications 2019; Zennit Flat", options: RelevanceRules.stabilizerOptions, build: RelevanceRules.buildFlat),
        ComponentEntry(.rule, "w_square", "LRP-w²: relevance spread by squared weights",
                       reference: "Montavon et al., Pattern Recognition 2017; Zennit WSquare", options: RelevanceRules.stabilizerOptions, build: RelevanceRules.buildWSquare),
        ComponentEntry(.rule, "z_box", "LRP-z^B: deep Taylor for inputs bounded by [low, high] (first layer)",
                       reference: "Montavon et al., Pattern Recognition 2017; Zennit ZBox", options: RelevanceRules.boxOptions, build: RelevanceRules.buildZBox),
        ComponentEntry(.rule, "norm", "the layer's own output normalised (average pooling)",
                       reference: "Zennit Norm", options: RelevanceRules.stabilizerOptions, build: RelevanceRules.buildNorm),
        ComponentEntry(.rule, "pass", "relevance passed through unchanged (element-wise layers)", reference: "Zennit Pass", build: RelevanceRules.buildPass),
        ComponentEntry(.composite, "epsilon_plus", "z⁺ on convolutions, ε on Linear layers",
                       reference: "Kohlbrenner et al., IJCNN 2020; Zennit EpsilonPlus", options: LayerMapComposite.epsilonOptions,
                       build: LayerMapComposite.epsilonComposite(convolution: RelevanceRules.zPlus, flat: false)),
        ComponentEntry(.composite, "epsilon_plus_flat", "flat on the first weighted layer, z⁺ on convolutions, ε on Linear layers",
                       reference: "Kohlbrenner et al., IJCNN 2020; Zennit EpsilonPlusFlat", options: LayerMapComposite.epsilonOptions,
                       build: LayerMapComposite.epsilonComposite(convolution: RelevanceRules.zPlus, flat: true)),
        ComponentEntry(.composite, "epsilon_alpha2_beta1", "α2β1 on convolutions, ε on Linear layers",
                       reference: "Kohlbrenner et al., IJCNN 2020; Zennit EpsilonAlpha2Beta1", options: LayerMapComposite.epsilonOptions,
                       build: LayerMapComposite.epsilonComposite(convolution: { try RelevanceRules.alphaBeta(alpha: 2, beta: 1, stabilizer: $0) }, flat: false)),
        ComponentEntry(.composite, "epsilon_alpha2_beta1_flat", "flat on the first weighted layer, α2β1 on convolutions, ε on Linear layers",
                       reference: "Kohlbrenner et al., IJCNN 2020; Zennit EpsilonAlpha2Beta1Flat", options: LayerMapComposite.epsilonOptions,
                       build: LayerMapComposite.epsilonComposite(convolution: { try RelevanceRules.alphaBeta(alpha: 2, beta: 1, stabilizer: $0) }, flat: true)),
        ComponentEntry(.composite, "epsilon_gamma_box", "z-box on the first convolution, γ on the other convolutions, ε on Linear layers",
                       reference: "Kohlbrenner et al., IJCNN 2020; Zennit EpsilonGammaBox", options: LayerMapComposite.gammaBoxOptions,
                       build: LayerMapComposite.epsilonGammaBox),
        ComponentEntry(.composite, "layer_map", "rules chosen per layer kind, for the first weighted layer and by module name",
                       reference: "Zennit LayerMapComposite / NameMapComposite", options: LayerMapComposite.layerMapOptions, build: LayerMapComposite.custom),
        // Explanation quality: maps against ground-truth masks.
        ComponentEntry(.metric, "iou_xai", "IoU of the binarised map (top-k %, value or Otsu) with the mask", reference: "Zhang et al., IJCV 2018; Otsu, 1979",
                       options: IoUXAI.options, build: IoUXAI.init),
        ComponentEntry(.metric, "pointing_game", "share of maps whose maximum lies in the mask", reference: "Zhang et al., IJCV 2018; Quantus PointingGame",
                       options: PointingGame.options, build: PointingGame.init),
        ComponentEntry(.metric, "relevance_mass", "share of the attribution inside the mask", reference: "Arras et al., 2022; Quantus RelevanceMassAccuracy",
                       options: RelevanceMass.options, build: RelevanceMass.init),
        ComponentEntry(.metric, "relevance_rank", "share of the top-|mask| pixels inside the mask", reference: "Arras et al., 2022; Quantus RelevanceRankAccuracy",
                       options: RelevanceRank.options, build: RelevanceRank.init),
        ComponentEntry(.metric, "attribution_auc", "ROC AUC of attributions as scores for the mask", reference: "Fawcett, 2006; Quantus AUC",
                       options: AttributionAUC.options, build: AttributionAUC.init),
        ComponentEntry(.metric, "deletion_auc", "area under the target probability as the most attributed pixels are removed (lower is better)",
                       reference: "Petsiuk et al., RISE, BMVC 2018", options: PerturbationCurve.options, build: DeletionAUC.init),
        ComponentEntry(.metric, "insertion_auc", "area under the target probability as the most attributed pixels are inserted (higher is better)",
                       reference: "Petsiuk et al., RISE, BMVC 2018", options: PerturbationCurve.options, build: InsertionAUC.init),
        ComponentEntry(.metric, "randomization_sanity", "Spearman correlation of maps before and after randomising the weights (lower is better)",
                       reference: "Adebayo et al., NeurIPS 2018", options: RandomizationSanity.options, build: RandomizationSanity.init),
        // Optimizers.
        ComponentEntry(.optimizer, "adamw", "Adam with decoupled weight decay", reference: "Loshchilov & Hutter, 2019",
                       options: BuiltinOptimizers.adamOptions(weightDecay: 1e-2), build: BuiltinOptimizers.adamw),
        ComponentEntry(.optimizer, "adam", "Adam with L2 weight decay in the gradient", reference: "Kingma & Ba, 2015",
                       options: BuiltinOptimizers.adamOptions(weightDecay: 0), build: BuiltinOptimizers.adam),
        ComponentEntry(.optimizer, "sgd", "stochastic gradient descent with momentum and Nesterov", reference: "Sutskever et al., 2013",
                       options: BuiltinOptimizers.sgdOptions, build: BuiltinOptimizers.sgd),
        ComponentEntry(.optimizer, "rmsprop", "RMSprop, optionally centered", reference: "Hinton, Lecture 6e, 2012",
                       options: BuiltinOptimizers.rmspropOptions, build: BuiltinOptimizers.rmsprop),
        // Schedules.
        ComponentEntry(.schedule, "cosine", "cosine annealing from the base rate to eta_min over t_max steps",
                       reference: "Loshchilov & Hutter, SGDR, 2017", options: BuiltinSchedules.cosineOptions, build: BuiltinSchedules.cosine),
        ComponentEntry(.schedule, "warmup_cosine", "linear warm-up, then cosine annealing", reference: "Goyal et al., 2017",
                       options: BuiltinSchedules.warmupOptions, build: BuiltinSchedules.warmupCosine),
        ComponentEntry(.schedule, "step", "multiply the rate by gamma every step_size steps", reference: "PyTorch StepLR",
                       options: BuiltinSchedules.stepOptions, build: BuiltinSchedules.step),
        ComponentEntry(.schedule, "exponential", "multiply the rate by gamma every step", reference: "PyTorch ExponentialLR",
                       options: BuiltinSchedules.exponentialOptions, build: BuiltinSchedules.exponential),
        ComponentEntry(.schedule, "constant", "keep the base rate", reference: "PyTorch ConstantLR (factor 1)",
                       options: [BuiltinSchedules.optimizerOption], build: BuiltinSchedules.constant),
        // Losses.
        ComponentEntry(.loss, "cross_entropy", "cross-entropy of logits [N, C] and class targets [N]", reference: "PyTorch F.cross_entropy",
                       options: StandardLoss.crossEntropyOptions, build: StandardLoss.crossEntropy),
        ComponentEntry(.loss, "nll", "negative log-likelihood of log-probabilities", reference: "PyTorch F.nll_loss",
                       options: [StandardLoss.reductionOption], build: StandardLoss.nll),
        ComponentEntry(.loss, "mse", "mean squared error", reference: "PyTorch F.mse_loss",
                       options: [StandardLoss.reductionOption], build: StandardLoss.mse),
        ComponentEntry(.loss, "l1", "mean absolute error", reference: "PyTorch F.l1_loss",
                       options: [StandardLoss.reductionOption], build: StandardLoss.l1),
        ComponentEntry(.loss, "bce_with_logits", "binary cross-entropy on logits", reference: "PyTorch F.binary_cross_entropy_with_logits",
                       options: [StandardLoss.reductionOption], build: StandardLoss.binaryCrossEntropy),
        ComponentEntry(.loss, "kl_div", "KL divergence of log-probabilities from target probabilities", reference: "PyTorch F.kl_div",
                       options: StandardLoss.klOptions, build: StandardLoss.klDivergence),
        // Data sets.
        ComponentEntry(.dataset, "fashion_mnist", "Fashion-MNIST images [N,1,28,28] and labels (official split)", reference: "Xiao et al., 2017",
                       options: ImageDatasets.options, build: { try ImageDatasets.build($0, name: "fashion_mnist", load: DataLocation.fashionMNIST) }),
        ComponentEntry(.dataset, "mnist", "MNIST images [N,1,28,28] and labels (official split)", reference: "LeCun et al., 1998",
                       options: ImageDatasets.options, build: { try ImageDatasets.build($0, name: "mnist", load: DataLocation.mnist) }),
        ComponentEntry(.dataset, "spoken_digits", "Free Spoken Digit Dataset as log-mel spectrograms [N,1,mels,frames], labels, speakers",
                       reference: "Jackson et al., FSDD", options: SpokenDigitsDataset.options, build: SpokenDigitsDataset.build),
        ComponentEntry(.dataset, "multimodal_mnist", "MNIST images paired with a spoken recording of the same digit (seeded pairing)",
                       reference: "LeCun et al., 1998; Jackson et al., FSDD", options: MultimodalMNIST.options, build: MultimodalMNIST.build),
        ComponentEntry(.dataset, "toxic_text", "Davidson tweets: toxic (hate or offensive) vs not, tokens [N, max_length], seeded 80/20 split",
                       reference: "Davidson et al., ICWSM 2017", options: TextDatasets.davidsonOptions, build: TextDatasets.davidson),
        ComponentEntry(.dataset, "identity_madlibs", "templated sentences with identity-term subgroups (groups), Davidson's vocabulary",
                       reference: "Dixon et al., AIES 2018", options: TextDatasets.evaluationOptions,
                       build: { try TextDatasets.evaluation($0, load: ToxicText.madlibs, name: "identity_madlibs") }),
        ComponentEntry(.dataset, "wiki_toxicity", "Wikipedia talk comments (toxic or not) with identity-term subgroups, out of domain",
                       reference: "Wulczyn, Thain & Dixon, WWW 2017", options: TextDatasets.evaluationOptions,
                       build: { try TextDatasets.evaluation($0, load: ToxicText.wikipedia, name: "wiki_toxicity") }),
    ]
}

enum BuiltinModels {
    static let tokensOption = OptionSpec("tokens", .boolean, default: .boolean(false), "forward gives token sequences [N, L, dim] instead of pooled [N, dim]")
    static let convEncoderOptions = [
        OptionSpec("in_channels", .integer, default: .number(1), "input channels"),
        OptionSpec("input_size", .pair, default: .list([.number(28), .number(28)]), "input height and width ({40, 32} for default spectrograms)"),
        OptionSpec("channels", .integers, default: .list([.number(32), .number(64)]), "channels of each conv-relu-pool block"),
        OptionSpec("dim", .integer, default: .number(64), "feature size"), tokensOption,
    ]
    static func convEncoder(_ config: Config) throws -> Any {
        try ConvEncoder(inputChannels: config.positiveInteger("in_channels"), inputSize: config.pair("input_size"), channels: config.integers("channels"),
                        dimension: config.positiveInteger("dim"), outputsTokens: config.boolean("tokens"))
    }
    static let resnetEncoderOptions = [
        OptionSpec("in_channels", .integer, default: .number(1), "input channels"),
        OptionSpec("channels", .integers, default: .list([.number(16), .number(32), .number(64)]), "width of each stage (stride 2 from the second)"),
        OptionSpec("blocks", .integer, default: .number(1), "residual blocks per stage"),
        OptionSpec("dim", .integer, default: .number(64), "feature size"), tokensOption,
    ]
    static func resnetEncoder(_ config: Config) throws -> Any {
        try ResidualEncoder(inputChannels: config.positiveInteger("in_channels"), channels: config.integers("channels"), blocks: config.positiveInteger("blocks"),
                            dimension: config.positiveInteger("dim"), outputsTokens: config.boolean("tokens"))
    }
    static let textConvOptions = [
        OptionSpec("vocabulary", .integer, default: .number(20000), "vocabulary size (the data set's vocabulary_size)"),
        OptionSpec("embedding_dim", .integer, default: .number(64), "embedding size"),
        OptionSpec("filters", .integer, default: .number(32), "filters per kernel width"),
        OptionSpec("kernels", .integers, default: .list([.number(3), .number(4), .number(5)]), "kernel widths in tokens"), tokensOption,
    ]
    static func textConv(_ config: Config) throws -> Any {
        try TextConvEncoder(vocabulary: config.positiveInteger("vocabulary"), embeddingDimension: config.positiveInteger("embedding_dim"),
                            filters: config.positiveInteger("filters"), kernels: config.integers("kernels"), outputsTokens: config.boolean("tokens"))
    }
    static let temporalEncoderOptions = [
        OptionSpec("mels", .integer, default: .number(40), "mel bands (input channels)"),
        OptionSpec("channels", .integers, default: .list([.number(64), .number(64)]), "channels of each conv-relu block (stride 2 after the first)"),
        OptionSpec("kernel", .integer, default: .number(5), "kernel size in frames"),
        OptionSpec("dim", .integer, default: .number(64), "feature size"), tokensOption,
    ]
    static func temporalEncoder(_ config: Config) throws -> Any {
        try TemporalConvEncoder(mels: config.positiveInteger("mels"), channels: config.integers("channels"), kernelSize: config.positiveInteger("kernel"),
                                dimension: config.positiveInteger("dim"), outputsTokens: config.boolean("tokens"))
    }
    static let embeddingBagOptions = [
        OptionSpec("vocabulary", .integer, default: .number(20000), "vocabulary size (the data set's vocabulary_size)"),
        OptionSpec("dim", .integer, default: .number(64), "embedding size"), tokensOption,
    ]
    static func embeddingBag(_ config: Config) throws -> Any {
        try EmbeddingBagEncoder(vocabulary: config.positiveInteger("vocabulary"), dimension: config.positiveInteger("dim"), outputsTokens: config.boolean("tokens"))
    }
    static let transformerOptions = [
        OptionSpec("vocabulary", .integer, default: .number(20000), "vocabulary size (the data set's vocabulary_size)"),
        OptionSpec("dim", .integer, default: .number(64), "model width"),
        OptionSpec("heads", .integer, default: .number(4), "attention heads"),
        OptionSpec("layers", .integer, default: .number(2), "encoder layers (1-8)"),
        OptionSpec("feed_forward", .integer, default: .number(128), "feed-forward width"),
        OptionSpec("max_length", .integer, default: .number(64), "longest token sequence"),
        OptionSpec("dropout", .number, default: .number(0.1), "dropout in the layers"), tokensOption,
    ]
    static func transformer(_ config: Config) throws -> Any {
        try TransformerTextEncoder(vocabulary: config.positiveInteger("vocabulary"), dimension: config.positiveInteger("dim"),
                                   heads: config.positiveInteger("heads"), layers: config.positiveInteger("layers"),
                                   feedForward: config.positiveInteger("feed_forward"), maxLength: config.positiveInteger("max_length"),
                                   dropout: config.number("dropout"), outputsTokens: config.boolean("tokens"))
    }

    static let mlpOptions = [
        OptionSpec("in_features", .integer, default: .number(784), "input features"),
        OptionSpec("hidden", .pair, default: .list([.number(256), .number(128)]), "the two hidden widths"),
        OptionSpec("classes", .integer, default: .number(10), "output classes"),
    ]
    static func mlp(_ config: Config) throws -> Any {
        try MLP(inputFeatures: config.positiveInteger("in_features"), hidden: config.pair("hidden"), classes: config.positiveInteger("classes"))
    }

    static let cnnOptions = [
        OptionSpec("in_channels", .integer, default: .number(1), "input channels"),
        OptionSpec("image_size", .integer, default: .number(28), "input height and width"),
        OptionSpec("channels", .pair, default: .list([.number(32), .number(64)]), "channels of conv1 and conv2"),
        OptionSpec("hidden", .integer, default: .number(128), "width of fc1"),
        OptionSpec("classes", .integer, default: .number(10), "output classes"),
    ]
    static func cnn(_ config: Config) throws -> Any {
        try CNN(inputChannels: config.positiveInteger("in_channels"), imageSize: config.positiveInteger("image_size"),
                channels: config.pair("channels"), hidden: config.positiveInteger("hidden"), classes: config.positiveInteger("classes"))
    }
}

enum BuiltinOptimizers {
    static let parametersOption = OptionSpec("params", .tensors, required: true, "the tensors to train: model:parameters(), or a model")

    static func adamOptions(weightDecay: Double) -> [OptionSpec] {
        [parametersOption,
         OptionSpec("lr", .number, default: .number(1e-3), "learning rate"),
         OptionSpec("betas", .any, default: .list([.number(0.9), .number(0.999)]), "{beta1, beta2}"),
         OptionSpec("eps", .number, default: .number(1e-8), "added to the denominator"),
         OptionSpec("weight_decay", .number, default: .number(weightDecay), "weight decay"),
         OptionSpec("amsgrad", .boolean, default: .boolean(false), "use the AMSGrad maximum")]
    }

    static func betas(_ config: Config) throws -> (Double, Double) {
        guard case .list(let items) = config.value("betas"), items.count == 2,
              case .number(let first) = items[0], case .number(let second) = items[1] else {
            throw TensorError(config.owner, "option betas must be a pair {beta1, beta2}")
        }
        return (first, second)
    }

    static func adamw(_ config: Config) throws -> Any {
        try AdamW(parameters: config.tensors("params"), learningRate: config.number("lr"), betas: betas(config),
                  epsilon: config.number("eps"), weightDecay: config.number("weight_decay"), amsgrad: config.boolean("amsgrad"))
    }

    static func adam(_ config: Config) throws -> Any {
        try Adam(parameters: config.tensors("params"), learningRate: config.number("lr"), betas: betas(config),
                 epsilon: config.number("eps"), weightDecay: config.number("weight_decay"), amsgrad: config.boolean("amsgrad"))
    }

    static let sgdOptions = [
        parametersOption,
        OptionSpec("lr", .number, default: .number(1e-2), "learning rate"),
        OptionSpec("momentum", .number, default: .number(0), "momentum factor"),
        OptionSpec("dampening", .number, default: .number(0), "dampening of momentum"),
        OptionSpec("weight_decay", .number, default: .number(0), "L2 penalty in the gradient"),
        OptionSpec("nesterov", .boolean, default: .boolean(false), "Nesterov momentum"),
    ]
    static func sgd(_ config: Config) throws -> Any {
        try SGD(parameters: config.tensors("params"), learningRate: config.number("lr"), momentum: config.number("momentum"),
                dampening: config.number("dampening"), weightDecay: config.number("weight_decay"), nesterov: config.boolean("nesterov"))
    }

    static let rmspropOptions = [
        parametersOption,
        OptionSpec("lr", .number, default: .number(1e-2), "learning rate"),
        OptionSpec("alpha", .number, default: .number(0.99), "smoothing constant"),
        OptionSpec("eps", .number, default: .number(1e-8), "added to the denominator"),
        OptionSpec("weight_decay", .number, default: .number(0), "L2 penalty in the gradient"),
        OptionSpec("momentum", .number, default: .number(0), "momentum factor"),
        OptionSpec("centered", .boolean, default: .boolean(false), "normalize by the estimated variance"),
    ]
    static func rmsprop(_ config: Config) throws -> Any {
        try RMSprop(parameters: config.tensors("params"), learningRate: config.number("lr"), alpha: config.number("alpha"),
                    epsilon: config.number("eps"), weightDecay: config.number("weight_decay"), momentum: config.number("momentum"),
                    centered: config.boolean("centered"))
    }
}

enum BuiltinSchedules {
    static let optimizerOption = OptionSpec("optimizer", .object("Optimizer"), required: true, "the optimizer whose rate it sets")

    static func make(_ config: Config, _ kind: LearningRateSchedule.Kind) throws -> Any {
        try LearningRateSchedule(kind, optimizer: config.object("optimizer", as: Optimizer.self, named: "an optimizer (e.g. optim.adamw{...})"))
    }

    static let cosineOptions = [optimizerOption, OptionSpec("t_max", .integer, required: true, "steps of one half cosine"),
                                OptionSpec("eta_min", .number, default: .number(0), "final learning rate")]
    static func cosine(_ config: Config) throws -> Any {
        try make(config, .cosine(maximumSteps: config.integer("t_max"), minimumRate: config.number("eta_min")))
    }

    static let warmupOptions = [optimizerOption, OptionSpec("warmup", .integer, required: true, "warm-up steps"),
                                OptionSpec("total", .integer, required: true, "total steps"),
                                OptionSpec("start_factor", .number, default: .number(0.1), "first rate as a fraction of the base"),
                                OptionSpec("eta_min", .number, default: .number(0), "final learning rate")]
    static func warmupCosine(_ config: Config) throws -> Any {
        try make(config, .warmupCosine(warmupSteps: config.integer("warmup"), totalSteps: config.integer("total"),
                                       startFactor: config.number("start_factor"), minimumRate: config.number("eta_min")))
    }

    static let stepOptions = [optimizerOption, OptionSpec("step_size", .integer, required: true, "steps between decays"),
                              OptionSpec("gamma", .number, default: .number(0.1), "decay factor")]
    static func step(_ config: Config) throws -> Any {
        try make(config, .step(stepSize: config.integer("step_size"), gamma: config.number("gamma")))
    }

    static let exponentialOptions = [optimizerOption, OptionSpec("gamma", .number, default: .number(0.9), "decay factor per step")]
    static func exponential(_ config: Config) throws -> Any { try make(config, .exponential(gamma: config.number("gamma"))) }

    static func constant(_ config: Config) throws -> Any { try make(config, .constant) }
}
