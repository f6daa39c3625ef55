import LucernaNN

/// Every Swift component type, one line each, grouped by kind (Swift cannot discover types at run time, so
/// this explicit list is the registry's source of built-ins; Lua plugins join at start-up). Each type
/// declares its own entries (name, summary, reference, options, factory) beside its definition.
public enum Builtins {
    public static let types: [any RegisteredComponent.Type] = [
        // Models.
        MLP.self,
        CNN.self,
        GANGenerator.self,  // cgan_generator
        GANCritic.self,  // cgan_critic
        ConvEncoder.self,
        ResidualEncoder.self,
        TextConvEncoder.self,
        TemporalConvEncoder.self,
        EmbeddingBagEncoder.self,
        TransformerTextEncoder.self,
        MultimodalClassifier.self,
        // Fusions.
        ConcatFusion.self,
        SumFusion.self,  // sum, mean
        ProductFusion.self,
        FiLMFusion.self,
        TensorFusion.self,
        LowRankTensorFusion.self,
        LateFusion.self,
        CrossModalAttentionFusion.self,
        // Regularizers.
        L2Regularizer.self, ParityPenalty.self, PrejudiceRemover.self, RightReasons.self, InvariantRisk.self,
        CAMPenalty.self,  // grad_cam_penalty, grad_cam_pp_penalty
        ConceptGradientPenalty.self,  // rr_clarc
        // Training methods.
        GroupDRO.self, Reweighing.self, JustTrainTwice.self, AdversarialDebiasing.self,
        // Metrics.
        Accuracy.self,
        ClassificationScore.self,  // precision, recall, f1
        ConfusionMatrix.self,
        ROCAUC.self,
        CalibrationError.self,
        SubgroupFairness.self,  // demographic parity, equalized odds, equal opportunity, worst group
        BiasAUC.self,
        Bootstrap.self,
        // Generation metrics.
        StructuralSimilarity.self,
        NormalizedMutualInformation.self,  // nmi
        FrechetDistance.self,  // fid
        KernelDistance.self,  // kid
        GenerationSSIM.self,
        MemorizationRatio.self,
        ClusterNMI.self,
        GANTestAccuracy.self,
        ReconstructionSSIM.self,
        // Explanation metrics.
        IoUXAI.self,
        PointingGame.self,
        RelevanceMass.self,
        RelevanceRank.self,
        AttributionAUC.self,
        DeletionAUC.self,
        InsertionAUC.self,
        RandomizationSanity.self,
        // Clusterings.
        KMeans.self, AgglomerativeClustering.self, DBSCAN.self,
        // Augmentations.
        HorizontalFlip.self, RandomCrop.self,
        // Attacks.
        GradientSignAttack.self,  // fgsm, fgsm_rs, bim, pgd, mifgsm
        DeepFool.self,
        CarliniWagner.self,
        AutoPGD.self,  // apgd_ce, apgd_dlr
        SquareAttack.self,
        EmbeddingPGD.self,
        WordSubstitution.self,
        // Explainers.
        GradCAM.self,  // the CAM family: one engine (ClassActivationMap), one weighting each
        GradCAMPlusPlus.self,
        XGradCAM.self,
        LayerCAM.self,
        ScoreCAM.self,
        EigenCAM.self,
        Saliency.self,
        IntegratedGradients.self,
        SmoothGrad.self,
        Occlusion.self,
        LayerwiseRelevancePropagation.self,
        // LRP rules and composites.
        RelevanceRules.self,
        LayerMapComposite.self,
        // Optimizers.
        Adam.self,  // adam, adamw
        SGD.self,
        RMSprop.self,
        // Schedules.
        LearningRateSchedule.self,  // cosine, warmup_cosine, step, exponential, constant
        // Losses.
        StandardLoss.self,
        // Data sets.
        ImageDatasets.self,  // mnist, fashion_mnist
        ColoredMNIST.self, DecoyMNIST.self,
        SpokenDigitsDataset.self,
        MultimodalMNIST.self,
        TextDatasets.self,  // toxic_text, identity_madlibs, wiki_toxicity
    ]

    /// The entries of every type, in the list's order.
    public static var entries: [ComponentEntry] { types.flatMap { $0.registrations } }
}
