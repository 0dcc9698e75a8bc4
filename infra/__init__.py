"""Nimbus's deploy tooling: the CloudFormation stack from code and the lean Lambda package.

Deploy-time only: nothing here is imported by the running application, and this package
is left out of the Lambda zip. troposphere and cfn-lint are development dependencies.
"""
