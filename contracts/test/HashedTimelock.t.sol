// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./utils/TestBase.sol";
import {Vm} from "./utils/Vm.sol";
import {HashedTimelock} from "../src/HashedTimelock.sol";
import {TestToken} from "../src/TestToken.sol";
import {NoBoolToken} from "../src/NoBoolToken.sol";
import {FeeOnTransferToken} from "../src/FeeOnTransferToken.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @dev Refuses native coin, to show a failed payout reverts the whole claim.
contract RejectingReceiver {
    receive() external payable {
        revert("no thanks");
    }
}

/// @dev On receiving native coin, tries to claim the same swap again.
contract ReentrantReceiver {
    HashedTimelock internal immutable htlc;
    bytes internal claimCall;
    bool public reentryReverted;

    constructor(HashedTimelock htlc_) {
        htlc = htlc_;
    }

    function arm(bytes calldata call) external {
        claimCall = call;
    }

    receive() external payable {
        if (claimCall.length == 0) return;
        bytes memory call = claimCall;
        delete claimCall;
        (bool ok,) = address(htlc).call(call);
        reentryReverted = !ok;
    }
}

contract HashedTimelockTest is TestBase {
    HashedTimelock internal htlc;
    TestToken internal token;

    address internal constant NATIVE = address(0);
    address internal sender = address(uint160(uint256(keccak256("sender"))));
    address internal recipient = address(uint160(uint256(keccak256("recipient"))));
    address internal stranger = address(uint160(uint256(keccak256("stranger"))));

    bytes32 internal constant PREIMAGE = keccak256("the secret");
    bytes32 internal hashlock;
    uint256 internal timelock;
    uint256 internal constant AMOUNT = 1_000e6;

    function setUp() public {
        vm.warp(1_700_000_000);
        htlc = new HashedTimelock();
        token = new TestToken("USD Coin", "USDC", 6);
        token.mint(sender, 1_000_000e6);
        hashlock = sha256(abi.encodePacked(PREIMAGE));
        timelock = block.timestamp + 1 hours;
        vm.deal(sender, 1_000 ether);
    }

    // ----- helpers -----

    function _approveAndLock(address tokenAddr, uint256 amount) internal returns (bytes32 id) {
        vm.startPrank(sender);
        TestToken(tokenAddr).approve(address(htlc), amount);
        id = htlc.lock(recipient, tokenAddr, amount, hashlock, timelock);
        vm.stopPrank();
    }

    function _lockNative(uint256 amount) internal returns (bytes32 id) {
        vm.prank(sender);
        id = htlc.lock{value: amount}(recipient, NATIVE, amount, hashlock, timelock);
    }

    function _claim(address tokenAddr, uint256 amount) internal {
        htlc.claim(sender, recipient, tokenAddr, amount, hashlock, timelock, PREIMAGE);
    }

    function _refund(address tokenAddr, uint256 amount) internal {
        htlc.refund(sender, recipient, tokenAddr, amount, hashlock, timelock);
    }

    function _notLocked(bytes32 id, HashedTimelock.State state) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(HashedTimelock.NotLocked.selector, id, state);
    }

    // ----- ids -----

    function test_SwapIdIsKeccakOfChainContractAndTerms() public view {
        bytes32 expected = keccak256(
            abi.encode(block.chainid, address(htlc), sender, recipient, address(token), AMOUNT, hashlock, timelock)
        );
        assertEq(htlc.swapId(sender, recipient, address(token), AMOUNT, hashlock, timelock), expected, "id");
    }

    function testFuzz_ChangingAnyTermChangesTheId(
        address s,
        address r,
        address t,
        uint256 amount,
        bytes32 h,
        uint256 tl,
        uint256 which,
        uint256 delta
    ) public view {
        vm.assume(delta != 0);
        bytes32 base = htlc.swapId(s, r, t, amount, h, tl);
        which = bound(which, 0, 5);
        if (which == 0) s = address(uint160(s) ^ uint160(delta));
        else if (which == 1) r = address(uint160(r) ^ uint160(delta));
        else if (which == 2) t = address(uint160(t) ^ uint160(delta));
        else if (which == 3) amount ^= delta;
        else if (which == 4) h ^= bytes32(delta);
        else tl ^= delta;
        vm.assume(which > 2 || uint160(delta) != 0);
        assertNotEq(htlc.swapId(s, r, t, amount, h, tl), base, "a changed term kept the id");
    }

    function test_IdDependsOnTheContractAddress() public {
        HashedTimelock other = new HashedTimelock();
        assertNotEq(
            other.swapId(sender, recipient, address(token), AMOUNT, hashlock, timelock),
            htlc.swapId(sender, recipient, address(token), AMOUNT, hashlock, timelock),
            "two contracts share an id"
        );
    }

    // ----- lock -----

    function test_LockErc20RecordsStateEmitsEventAndTakesTokens() public {
        bytes32 expectedId = htlc.swapId(sender, recipient, address(token), AMOUNT, hashlock, timelock);
        vm.startPrank(sender);
        token.approve(address(htlc), AMOUNT);
        vm.expectEmit(true, true, true, true, address(htlc));
        emit HashedTimelock.Locked(expectedId, hashlock, sender, recipient, address(token), AMOUNT, timelock);
        bytes32 id = htlc.lock(recipient, address(token), AMOUNT, hashlock, timelock);
        vm.stopPrank();
        assertEq(id, expectedId, "returned id");
        assertTrue(htlc.stateOf(id) == HashedTimelock.State.Locked, "state Locked");
        assertEq(token.balanceOf(address(htlc)), AMOUNT, "escrowed");
    }

    function test_LockNativeHoldsTheCoin() public {
        bytes32 id = _lockNative(1 ether);
        assertTrue(htlc.stateOf(id) == HashedTimelock.State.Locked, "state Locked");
        assertEq(address(htlc).balance, 1 ether, "escrowed");
    }

    function test_LockRevertsOnZeroAmount() public {
        vm.prank(sender);
        vm.expectRevert(HashedTimelock.ZeroAmount.selector);
        htlc.lock(recipient, address(token), 0, hashlock, timelock);
        vm.prank(sender);
        vm.expectRevert(HashedTimelock.ZeroAmount.selector);
        htlc.lock{value: 0}(recipient, NATIVE, 0, hashlock, timelock);
    }

    function test_LockRevertsOnZeroRecipient() public {
        vm.prank(sender);
        vm.expectRevert(HashedTimelock.ZeroRecipient.selector);
        htlc.lock{value: 1}(address(0), NATIVE, 1, hashlock, timelock);
    }

    function test_LockRevertsOnZeroHashlock() public {
        vm.prank(sender);
        vm.expectRevert(HashedTimelock.ZeroHashlock.selector);
        htlc.lock{value: 1}(recipient, NATIVE, 1, bytes32(0), timelock);
    }

    function test_LockRevertsOnPastOrCurrentTimelock() public {
        vm.prank(sender);
        vm.expectRevert(
            abi.encodeWithSelector(HashedTimelock.TimelockNotInFuture.selector, block.timestamp, block.timestamp)
        );
        htlc.lock{value: 1}(recipient, NATIVE, 1, hashlock, block.timestamp);
        vm.prank(sender);
        vm.expectRevert(
            abi.encodeWithSelector(HashedTimelock.TimelockNotInFuture.selector, block.timestamp - 1, block.timestamp)
        );
        htlc.lock{value: 1}(recipient, NATIVE, 1, hashlock, block.timestamp - 1);
    }

    function test_LockRevertsWhenNativeValueAccompaniesAToken() public {
        vm.startPrank(sender);
        token.approve(address(htlc), AMOUNT);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.NativeValueMismatch.selector, 0, 1));
        htlc.lock{value: 1}(recipient, address(token), AMOUNT, hashlock, timelock);
        vm.stopPrank();
    }

    function testFuzz_LockRevertsWhenNativeValueDiffersFromAmount(uint256 amount, uint256 value) public {
        amount = bound(amount, 1, 100 ether);
        value = bound(value, 0, 100 ether);
        vm.assume(value != amount);
        vm.prank(sender);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.NativeValueMismatch.selector, amount, value));
        htlc.lock{value: value}(recipient, NATIVE, amount, hashlock, timelock);
    }

    function test_LockRevertsWithoutApproval() public {
        vm.prank(sender);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(htlc), 0, AMOUNT)
        );
        htlc.lock(recipient, address(token), AMOUNT, hashlock, timelock);
    }

    function test_LockRevertsOnDuplicateSwap() public {
        bytes32 id = _lockNative(1 ether);
        vm.prank(sender);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.SwapExists.selector, id));
        htlc.lock{value: 1 ether}(recipient, NATIVE, 1 ether, hashlock, timelock);
    }

    function test_LockRevertsOnDuplicateEvenAfterSettlement() public {
        bytes32 id = _lockNative(1 ether);
        _claim(NATIVE, 1 ether);
        vm.prank(sender);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.SwapExists.selector, id));
        htlc.lock{value: 1 ether}(recipient, NATIVE, 1 ether, hashlock, timelock);
    }

    function test_LockRevertsForAnAddressWithoutCodeAsToken() public {
        vm.prank(sender);
        vm.expectRevert();
        htlc.lock(recipient, stranger, AMOUNT, hashlock, timelock);
    }

    function test_NoBoolTokenLocksClaimsAndRefunds() public {
        NoBoolToken usdt = new NoBoolToken("Tether", "USDT", 6);
        usdt.mint(sender, 2 * AMOUNT);
        vm.startPrank(sender);
        usdt.approve(address(htlc), 2 * AMOUNT);
        bytes32 claimedId = htlc.lock(recipient, address(usdt), AMOUNT, hashlock, timelock);
        bytes32 refundedId = htlc.lock(recipient, address(usdt), AMOUNT, hashlock, timelock + 1);
        vm.stopPrank();
        assertEq(usdt.balanceOf(address(htlc)), 2 * AMOUNT, "escrowed");

        htlc.claim(sender, recipient, address(usdt), AMOUNT, hashlock, timelock, PREIMAGE);
        vm.warp(timelock + 1);
        htlc.refund(sender, recipient, address(usdt), AMOUNT, hashlock, timelock + 1);

        assertTrue(htlc.stateOf(claimedId) == HashedTimelock.State.Claimed, "claimed");
        assertTrue(htlc.stateOf(refundedId) == HashedTimelock.State.Refunded, "refunded");
        assertEq(usdt.balanceOf(recipient), AMOUNT, "recipient paid");
        assertEq(usdt.balanceOf(sender), AMOUNT, "sender refunded");
        assertEq(usdt.balanceOf(address(htlc)), 0, "nothing left");
    }

    function testFuzz_FeeOnTransferTokenIsRefused(uint256 amount) public {
        amount = bound(amount, 100, 1e30);
        FeeOnTransferToken fot = new FeeOnTransferToken("Fee", "FEE", 18);
        fot.mint(sender, amount);
        uint256 received = amount - (amount * fot.FEE_BPS()) / 10_000;
        vm.startPrank(sender);
        fot.approve(address(htlc), amount);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.TransferAmountMismatch.selector, amount, received));
        htlc.lock(recipient, address(fot), amount, hashlock, timelock);
        vm.stopPrank();
        assertTrue(
            htlc.stateOf(htlc.swapId(sender, recipient, address(fot), amount, hashlock, timelock))
                == HashedTimelock.State.None,
            "no swap recorded"
        );
    }

    // ----- lockBatch -----

    function test_LockBatchLocksEachSwapAsASingleLockWould() public {
        NoBoolToken usdt = new NoBoolToken("Tether", "USDT", 6);
        usdt.mint(sender, AMOUNT);
        HashedTimelock.LockParams[] memory params = new HashedTimelock.LockParams[](4);
        params[0] = HashedTimelock.LockParams(recipient, address(token), AMOUNT, hashlock, timelock);
        params[1] = HashedTimelock.LockParams(stranger, NATIVE, 2 ether, hashlock, timelock + 10);
        params[2] = HashedTimelock.LockParams(recipient, address(usdt), AMOUNT, keccak256("h2"), timelock);
        params[3] = HashedTimelock.LockParams(recipient, NATIVE, 3 ether, hashlock, timelock);

        vm.startPrank(sender);
        token.approve(address(htlc), AMOUNT);
        usdt.approve(address(htlc), AMOUNT);
        vm.stopPrank();

        // One by one, recording ids and logs, then rewind.
        uint256 snapshot = vm.snapshotState();
        bytes32[] memory singleIds = new bytes32[](params.length);
        vm.recordLogs();
        for (uint256 i = 0; i < params.length; ++i) {
            HashedTimelock.LockParams memory p = params[i];
            vm.prank(sender);
            singleIds[i] = htlc.lock{value: p.token == NATIVE ? p.amount : 0}(
                p.recipient, p.token, p.amount, p.hashlock, p.timelock
            );
        }
        Vm.Log[] memory singleLogs = vm.getRecordedLogs();
        uint256 singleNative = address(htlc).balance;
        uint256 singleToken = token.balanceOf(address(htlc));
        uint256 singleUsdt = usdt.balanceOf(address(htlc));
        assertTrue(vm.revertToState(snapshot), "rewind");
        assertEq(address(htlc).balance, 0, "rewound");

        // All at once.
        vm.recordLogs();
        vm.prank(sender);
        bytes32[] memory batchIds = htlc.lockBatch{value: 5 ether}(params);
        Vm.Log[] memory batchLogs = vm.getRecordedLogs();

        assertEq(batchIds.length, params.length, "one id per lock");
        for (uint256 i = 0; i < params.length; ++i) {
            assertEq(batchIds[i], singleIds[i], "same id");
            assertTrue(htlc.stateOf(batchIds[i]) == HashedTimelock.State.Locked, "locked");
        }
        assertEq(batchLogs.length, singleLogs.length, "same number of logs");
        for (uint256 i = 0; i < batchLogs.length; ++i) {
            assertEq(batchLogs[i].emitter, singleLogs[i].emitter, "same emitter");
            assertEq(abi.encode(batchLogs[i].topics), abi.encode(singleLogs[i].topics), "same topics");
            assertEq(batchLogs[i].data, singleLogs[i].data, "same data");
        }
        assertEq(address(htlc).balance, singleNative, "same native escrow");
        assertEq(token.balanceOf(address(htlc)), singleToken, "same token escrow");
        assertEq(usdt.balanceOf(address(htlc)), singleUsdt, "same no-bool escrow");
    }

    function test_LockBatchRevertsWhenValueDiffersFromNativeSum() public {
        HashedTimelock.LockParams[] memory params = new HashedTimelock.LockParams[](2);
        params[0] = HashedTimelock.LockParams(recipient, NATIVE, 1 ether, hashlock, timelock);
        params[1] = HashedTimelock.LockParams(recipient, NATIVE, 2 ether, hashlock, timelock + 1);
        vm.prank(sender);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.NativeValueMismatch.selector, 3 ether, 2 ether));
        htlc.lockBatch{value: 2 ether}(params);
    }

    function test_LockBatchRevertsEntirelyWhenOneLockIsInvalid() public {
        HashedTimelock.LockParams[] memory params = new HashedTimelock.LockParams[](2);
        params[0] = HashedTimelock.LockParams(recipient, NATIVE, 1 ether, hashlock, timelock);
        params[1] = HashedTimelock.LockParams(recipient, NATIVE, 1 ether, hashlock, timelock);
        bytes32 id = htlc.swapId(sender, recipient, NATIVE, 1 ether, hashlock, timelock);
        vm.prank(sender);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.SwapExists.selector, id));
        htlc.lockBatch{value: 2 ether}(params);
        assertTrue(htlc.stateOf(id) == HashedTimelock.State.None, "first lock rolled back");
    }

    // ----- claim -----

    function test_ClaimByThirdPartyPaysRecipient() public {
        bytes32 id = _approveAndLock(address(token), AMOUNT);
        uint256 senderBalance = token.balanceOf(sender);
        vm.expectEmit(true, true, true, true, address(htlc));
        emit HashedTimelock.Claimed(id, hashlock, PREIMAGE);
        vm.prank(stranger);
        _claim(address(token), AMOUNT);
        assertEq(token.balanceOf(recipient), AMOUNT, "recipient paid");
        assertEq(token.balanceOf(stranger), 0, "caller gets nothing");
        assertEq(token.balanceOf(sender), senderBalance, "sender unchanged");
        assertTrue(htlc.stateOf(id) == HashedTimelock.State.Claimed, "state Claimed");
    }

    function test_NativeClaimByThirdPartyPaysRecipient() public {
        _lockNative(1 ether);
        vm.prank(stranger);
        _claim(NATIVE, 1 ether);
        assertEq(recipient.balance, 1 ether, "recipient paid");
        assertEq(address(htlc).balance, 0, "nothing left");
    }

    function testFuzz_ClaimRevertsOnWrongPreimage(bytes32 wrong) public {
        vm.assume(wrong != PREIMAGE);
        bytes32 id = _approveAndLock(address(token), AMOUNT);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.InvalidPreimage.selector, id));
        htlc.claim(sender, recipient, address(token), AMOUNT, hashlock, timelock, wrong);
    }

    function test_ClaimRevertsWhenPreimageIsTheHashlockKeccakInsteadOfSha256() public {
        bytes32 keccakLock = keccak256(abi.encodePacked(PREIMAGE));
        vm.prank(sender);
        bytes32 id = htlc.lock{value: 1}(recipient, NATIVE, 1, keccakLock, timelock);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.InvalidPreimage.selector, id));
        htlc.claim(sender, recipient, NATIVE, 1, keccakLock, timelock, PREIMAGE);
    }

    function test_ClaimSucceedsOneSecondBeforeTimelock() public {
        _approveAndLock(address(token), AMOUNT);
        vm.warp(timelock - 1);
        _claim(address(token), AMOUNT);
        assertEq(token.balanceOf(recipient), AMOUNT, "recipient paid");
    }

    function test_ClaimRevertsAtTimelock() public {
        bytes32 id = _approveAndLock(address(token), AMOUNT);
        vm.warp(timelock);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.TimelockExpired.selector, id, timelock, timelock));
        _claim(address(token), AMOUNT);
    }

    function test_ClaimRevertsForUnknownSwap() public {
        bytes32 id = htlc.swapId(sender, recipient, address(token), AMOUNT, hashlock, timelock);
        vm.expectRevert(_notLocked(id, HashedTimelock.State.None));
        _claim(address(token), AMOUNT);
    }

    function test_ClaimWithAlteredTermsReverts() public {
        _approveAndLock(address(token), AMOUNT);
        bytes32 otherId = htlc.swapId(sender, stranger, address(token), AMOUNT, hashlock, timelock);
        vm.expectRevert(_notLocked(otherId, HashedTimelock.State.None));
        htlc.claim(sender, stranger, address(token), AMOUNT, hashlock, timelock, PREIMAGE);
    }

    function test_ClaimTwiceReverts() public {
        bytes32 id = _approveAndLock(address(token), AMOUNT);
        _claim(address(token), AMOUNT);
        vm.expectRevert(_notLocked(id, HashedTimelock.State.Claimed));
        _claim(address(token), AMOUNT);
    }

    function test_ClaimAfterRefundReverts() public {
        bytes32 id = _approveAndLock(address(token), AMOUNT);
        vm.warp(timelock);
        _refund(address(token), AMOUNT);
        vm.warp(timelock - 1); // even if the clock went back, the swap is settled
        vm.expectRevert(_notLocked(id, HashedTimelock.State.Refunded));
        _claim(address(token), AMOUNT);
    }

    function test_NativeClaimToRejectingRecipientRevertsAndKeepsSwapLocked() public {
        RejectingReceiver rejecting = new RejectingReceiver();
        vm.prank(sender);
        bytes32 id = htlc.lock{value: 1 ether}(address(rejecting), NATIVE, 1 ether, hashlock, timelock);
        vm.expectRevert(
            abi.encodeWithSelector(HashedTimelock.NativeTransferFailed.selector, address(rejecting), 1 ether)
        );
        htlc.claim(sender, address(rejecting), NATIVE, 1 ether, hashlock, timelock, PREIMAGE);
        assertTrue(htlc.stateOf(id) == HashedTimelock.State.Locked, "still locked");
        assertEq(address(htlc).balance, 1 ether, "still escrowed");
    }

    function test_ReentrantClaimFromRecipientCannotPayTwice() public {
        ReentrantReceiver attacker = new ReentrantReceiver(htlc);
        vm.startPrank(sender);
        htlc.lock{value: 1 ether}(address(attacker), NATIVE, 1 ether, hashlock, timelock);
        htlc.lock{value: 1 ether}(recipient, NATIVE, 1 ether, hashlock, timelock); // other funds at stake
        vm.stopPrank();
        bytes memory call = abi.encodeCall(
            HashedTimelock.claim, (sender, address(attacker), NATIVE, 1 ether, hashlock, timelock, PREIMAGE)
        );
        attacker.arm(call);
        (bool ok,) = address(htlc).call(call);
        assertTrue(ok, "outer claim succeeds");
        assertTrue(attacker.reentryReverted(), "re-entered claim reverted");
        assertEq(address(attacker).balance, 1 ether, "paid once");
        assertEq(address(htlc).balance, 1 ether, "other swap untouched");
    }

    // ----- refund -----

    function test_RefundRevertsOneSecondBeforeTimelock() public {
        bytes32 id = _approveAndLock(address(token), AMOUNT);
        vm.warp(timelock - 1);
        vm.expectRevert(abi.encodeWithSelector(HashedTimelock.TimelockNotExpired.selector, id, timelock, timelock - 1));
        _refund(address(token), AMOUNT);
    }

    function test_RefundSucceedsAtTimelock() public {
        bytes32 id = _approveAndLock(address(token), AMOUNT);
        uint256 senderBalance = token.balanceOf(sender);
        vm.warp(timelock);
        vm.expectEmit(true, true, true, true, address(htlc));
        emit HashedTimelock.Refunded(id);
        vm.prank(stranger);
        _refund(address(token), AMOUNT);
        assertEq(token.balanceOf(sender), senderBalance + AMOUNT, "sender refunded");
        assertEq(token.balanceOf(recipient), 0, "recipient unpaid");
        assertTrue(htlc.stateOf(id) == HashedTimelock.State.Refunded, "state Refunded");
    }

    function test_NativeRefundByThirdPartyPaysSender() public {
        _lockNative(1 ether);
        uint256 before = sender.balance;
        vm.warp(timelock + 1 days);
        vm.prank(stranger);
        _refund(NATIVE, 1 ether);
        assertEq(sender.balance, before + 1 ether, "sender refunded");
    }

    function test_RefundTwiceReverts() public {
        bytes32 id = _approveAndLock(address(token), AMOUNT);
        vm.warp(timelock);
        _refund(address(token), AMOUNT);
        vm.expectRevert(_notLocked(id, HashedTimelock.State.Refunded));
        _refund(address(token), AMOUNT);
    }

    function test_RefundAfterClaimReverts() public {
        bytes32 id = _approveAndLock(address(token), AMOUNT);
        _claim(address(token), AMOUNT);
        vm.warp(timelock);
        vm.expectRevert(_notLocked(id, HashedTimelock.State.Claimed));
        _refund(address(token), AMOUNT);
    }

    function test_RefundRevertsForUnknownSwap() public {
        bytes32 id = htlc.swapId(sender, recipient, NATIVE, 1, hashlock, timelock);
        vm.warp(timelock);
        vm.expectRevert(_notLocked(id, HashedTimelock.State.None));
        _refund(NATIVE, 1);
    }
}
