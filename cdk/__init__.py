"""strata's AWS CDK app: the three layers as three CloudFormation stacks.

``ComputeStack`` (layer 1: SageMaker endpoints built from the provisioner's ``EndpointSpec``),
``ModelLayerStack`` (layer 2: the gateway on ECS Fargate with its database, cache, secrets and
monitoring) and ``ApplicationsStack`` (layer 3: the sample apps, which reach the gateway only by
its URL and an API key). Each stack takes the one below as props and never the other way round.
Settings come from ``cdk.json``'s context (:mod:`cdk.settings`); ``cdk/app.py`` is the CLI's entry.
Nothing imports this package: it sits on top of ``infrastructure`` and ``model_layer.config``.
"""
